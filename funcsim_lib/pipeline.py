"""The book pipeline: train the study, execute the notebooks, build the site.

The pipeline treats notebooks as black boxes: it passes each one the same
parameters through papermill and keeps what comes out. A notebook whose
source, parameters and library code are unchanged since its last execution is
not executed again, and jupyter-book only rebuilds pages whose files changed,
so a rebuild with nothing new finishes in seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from funcsim_lib.notebook import resolve_parameters
from funcsim_lib.training import train_study

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = ("traditional", "qualitative", "quantitative")


@dataclass
class BuildOptions:
    """What to build and where; the study parameters are the notebooks' own."""

    profile: str = "digits"
    init_seeds: list[int] | None = None
    data_seeds: list[int] | None = None
    overrides: dict[str, Any] | None = None
    store_dir: Path = REPO / "studies"
    output_root: Path = REPO  # the site goes to output_root/_build/html
    workers: int = 2
    notebooks: tuple[str, ...] = NOTEBOOKS
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def build_dir(self) -> Path:
        return Path(self.output_root) / "_build"

    def parameters(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "init_seeds": self.init_seeds,
            "data_seeds": self.data_seeds,
            "overrides": self.overrides,
            "store_dir": str(Path(self.store_dir).resolve()),
            "workers": self.workers,
        }


@contextmanager
def stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    log.info("== %s", name)
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start
    log.info("== %s done in %.1f s", name, timings[name])


def build_book(options: BuildOptions) -> Path:
    """Run every stage and return the folder of the built site."""
    study, _ = resolve_parameters(
        options.profile, options.init_seeds, options.data_seeds, options.overrides
    )
    for name in options.notebooks:
        if not (REPO / "notebooks" / f"{name}.ipynb").exists():
            raise ValueError(f"unknown notebook {name!r}; expected one of {NOTEBOOKS}")
    timings = options.timings
    with stage("train", timings):
        store = train_study(study, options.store_dir, workers=options.workers)
    with stage("notebooks", timings):
        executed = execute_notebooks(options, store.study.config_hash())
    with stage("site", timings):
        html = build_site(options, executed)
    write_timings(options, study.config_hash())
    for name, seconds in timings.items():
        log.info("%-10s %7.1f s", name, seconds)
    log.info("site: %s", html / "index.html")
    return html


# -- notebooks ----------------------------------------------------------------


def library_fingerprint() -> str:
    digest = hashlib.sha256()
    library = REPO / "funcsim_lib"
    for path in sorted(library.rglob("*.py")):
        digest.update(str(path.relative_to(library)).encode() + path.read_bytes())
    return digest.hexdigest()


def execution_key(source: Path, parameters: dict[str, Any], study_hash: str) -> str:
    digest = hashlib.sha256(source.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    digest.update(study_hash.encode() + library_fingerprint().encode())
    return digest.hexdigest()


def execute_notebooks(options: BuildOptions, study_hash: str) -> dict[str, Path]:
    """Execute each notebook with papermill unless its last execution is current."""
    out_dir = options.build_dir / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = options.parameters()
    jobs = {}
    for name in options.notebooks:
        source = REPO / "notebooks" / f"{name}.ipynb"
        key = execution_key(source, parameters, study_hash)
        target = out_dir / f"{name}.ipynb"
        key_file = out_dir / f"{name}.key"
        if target.exists() and key_file.exists() and key_file.read_text() == key:
            log.info("%s: unchanged, not executed again", name)
            continue
        jobs[name] = (source, target, key_file, key)
    # Notebooks run side by side: most of their time is kernel start-up.
    with ThreadPoolExecutor(max(1, len(jobs))) as pool:
        futures = {
            name: pool.submit(run_papermill, source, target, parameters)
            for name, (source, target, _, _) in jobs.items()
        }
        for name, future in futures.items():
            future.result()
            _, target, key_file, key = jobs[name]
            hide_injected_parameters(target)
            key_file.write_text(key)
            log.info("%s: executed", name)
    return {name: out_dir / f"{name}.ipynb" for name in options.notebooks}


def run_papermill(source: Path, target: Path, parameters: dict[str, Any]) -> None:
    partial = target.with_name(f".{target.name}.partial")
    command = [
        sys.executable,
        "-m",
        "papermill",
        str(source),
        str(partial),
        "--cwd",
        str(source.parent),
        "--no-progress-bar",
        "-y",
        yaml.safe_dump(parameters, default_flow_style=True),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-25:])
        raise RuntimeError(
            f"executing {source.name} failed; the executed copy is {partial}.\n{tail}"
        )
    partial.replace(target)


def child_env() -> dict[str, str]:
    """Return the environment for subprocesses, importing this checkout's library."""
    env = dict(os.environ)
    paths = [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected cell so the page does not show it."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(notebook, path)


# -- site ---------------------------------------------------------------------


def sync_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` only if it differs, keeping times stable."""
    if target.exists() and target.read_bytes() == source.read_bytes():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def stage_sources(options: BuildOptions, executed: dict[str, Path]) -> Path:
    """Assemble the book's source tree from the repository and executed notebooks."""
    source = options.build_dir / "source"
    expected: set[Path] = set()
    for name in ("_config.yml", "_toc.yml"):
        sync_file(REPO / name, source / name)
        expected.add(source / name)
    for path in (REPO / "book").rglob("*"):
        if path.is_file():
            target = source / "book" / path.relative_to(REPO / "book")
            sync_file(path, target)
            expected.add(target)
    for name, path in executed.items():
        target = source / "notebooks" / f"{name}.ipynb"
        sync_file(path, target)
        expected.add(target)
    static = source / "book" / "_static" / "plotly.min.js"
    sync_file(plotly_js(), static)
    expected.add(static)
    for path in list(source.rglob("*")):
        if path.is_file() and path not in expected and "_build" not in path.parts:
            path.unlink()
    return source


def build_site(options: BuildOptions, executed: dict[str, Path]) -> Path:
    source = stage_sources(options, executed)
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(source),
        "--path-output",
        str(options.output_root),
        "--quiet",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book failed:\n{result.stdout}\n{result.stderr}")
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    for line in warnings:
        log.warning("jupyter-book: %s", line)
    return options.build_dir / "html"


def write_timings(options: BuildOptions, study_hash: str) -> None:
    record = {
        "profile": options.profile,
        "study": study_hash,
        "seconds": {k: round(v, 2) for k, v in options.timings.items()},
    }
    path = options.build_dir / "timings.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
