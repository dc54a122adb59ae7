"""The book pipeline: train the study, execute the notebooks, build the site.

The pipeline treats notebooks as black boxes: it passes each one the same
parameters through papermill and keeps what comes out. A notebook whose
source, parameters and library code are unchanged since its last execution is
not executed again, and jupyter-book only rebuilds pages whose files changed,
so a rebuild with nothing new finishes in seconds.

The stages are ``train``, ``notebooks``, ``record`` (the "how this book was
built" page, executed last because it reports the stages before it) and
``site``. Every parameter is checked against each notebook's parameters cell
before the first stage starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
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

from funcsim_lib import children
from funcsim_lib.notebook import check_values, read_parameters, resolve_parameters
from funcsim_lib.store import StudyStore
from funcsim_lib.training import study_runs, train_study

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
# The pages executed in the notebooks stage, in the order of the book.
NOTEBOOKS = ("why", "traditional", "qualitative", "quantitative", "impact")
# The page that reports the build, executed after the others.
RECORD = "colophon"
# MathJax 3 from npm (package.json), shipped with the site for offline math.
MATHJAX = REPO / "node_modules" / "mathjax" / "es5"
MATHJAX_PARTS = ("tex-chtml.js", "input/tex", "output/chtml", "ui", "a11y")
# The error nbclient raises when a kernel exits before it replies to its first
# request, so before any cell of the notebook has run.
KERNEL_START_FAILURE = "Kernel died before replying to kernel_info"
# Sphinx warnings that leave a page wrong, and so fail the build: a number
# that was not glued, a citation or cross-reference that does not resolve.
FATAL_WARNINGS = (
    "glue",
    "citation",
    "bibtex",
    "undefined label",
    "unknown document",
    "Failed to create a cross reference",
)


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

    def parameters(self, notebook: str | None = None) -> dict[str, Any]:
        """Return the papermill parameters for ``notebook``: the common ones,
        and the build folder for the record page."""
        if notebook == RECORD:
            return {**self.parameters(), "build_dir": str(self.build_dir.resolve())}
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


def check_options(options: BuildOptions) -> None:
    """Check every parameter against every notebook before any stage starts.

    Raises
    ------
    funcsim_lib.notebook.ParameterError
        If a parameter has the wrong type, or a notebook does not declare it.
    ValueError
        If a notebook is unknown.
    FileNotFoundError
        If MathJax is not installed in ``node_modules``.
    """
    resolve_parameters(
        options.profile, options.init_seeds, options.data_seeds, options.overrides
    )
    for name in (*options.notebooks, RECORD):
        path = REPO / "notebooks" / f"{name}.ipynb"
        if not path.exists():
            raise ValueError(
                f"unknown notebook {name!r}; expected one of {(*NOTEBOOKS, RECORD)}"
            )
        check_values(read_parameters(path), options.parameters(name), name)
    missing = [part for part in MATHJAX_PARTS if not (MATHJAX / part).exists()]
    if missing:
        raise FileNotFoundError(
            f"MathJax is missing from {MATHJAX} ({', '.join(missing)}); install it "
            "with `npm ci` in the repository root (`make book` and `make test` "
            "run it)"
        )


def build_book(options: BuildOptions) -> Path:
    """Run every stage and return the folder of the built site."""
    check_options(options)
    study, _ = resolve_parameters(
        options.profile, options.init_seeds, options.data_seeds, options.overrides
    )
    timings = options.timings
    record: dict[str, Any] = {"profile": options.profile, "study": study.config_hash()}
    with stage("train", timings):
        known = StudyStore(options.store_dir, study)
        record["trained"] = not all(known.has_run(r.name) for r in study_runs(study))
        store = train_study(study, options.store_dir, workers=options.workers)
    with stage("notebooks", timings):
        executed = execute_notebooks(options, store.study.config_hash())
    record["executed"] = sorted(executed.fresh)
    write_timings(options, record)
    with stage("record", timings):
        executed.merge(execute_record(options, store.study.config_hash(), executed))
    with stage("site", timings):
        html = build_site(options, executed)
    write_timings(options, record)
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


@dataclass
class Executed:
    """The executed notebooks of a build, and which of them ran in it."""

    paths: dict[str, Path] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)

    def merge(self, other: Executed) -> None:
        self.paths.update(other.paths)
        self.keys.update(other.keys)
        self.fresh |= other.fresh


def execute_notebooks(
    options: BuildOptions,
    study_hash: str,
    names: tuple[str, ...] | None = None,
    extra_key: str = "",
) -> Executed:
    """Execute each notebook with papermill unless its last execution is current.

    ``extra_key`` is mixed into every execution key, so that a notebook that
    reports on others runs again whenever one of them did.
    """
    out_dir = options.build_dir / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = Executed()
    jobs = {}
    for name in names or options.notebooks:
        parameters = options.parameters(name)
        source = REPO / "notebooks" / f"{name}.ipynb"
        key = execution_key(source, parameters, study_hash + extra_key)
        target = out_dir / f"{name}.ipynb"
        key_file = out_dir / f"{name}.key"
        result.paths[name] = target
        result.keys[name] = key
        if target.exists() and key_file.exists() and key_file.read_text() == key:
            log.info("%s: unchanged, not executed again", name)
            continue
        jobs[name] = (source, target, key_file, key, parameters)
    # Notebooks run side by side: most of their time is kernel start-up.
    with ThreadPoolExecutor(max(1, len(jobs))) as pool:
        futures = {
            name: pool.submit(run_papermill, source, target, parameters)
            for name, (source, target, _, _, parameters) in jobs.items()
        }
        try:
            for name, future in futures.items():
                future.result()
                _, target, key_file, key, _ = jobs[name]
                hide_injected_parameters(target)
                key_file.write_text(key)
                result.fresh.add(name)
                log.info("%s: executed", name)
        except BaseException:
            # A failed notebook, Ctrl-C or SIGTERM: stop the others before the
            # pool waits for them.
            children.stop_all()
            raise
    return result


def execute_record(
    options: BuildOptions, study_hash: str, executed: Executed
) -> Executed:
    """Execute the record page, again whenever any other notebook changed."""
    others = "".join(executed.keys[name] for name in sorted(executed.keys))
    return execute_notebooks(options, study_hash, (RECORD,), extra_key=others)


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
    result = children.run(command, env=child_env())
    if result.returncode != 0 and KERNEL_START_FAILURE in result.stderr:
        # No cell has run. A likely cause: kernels started side by side each
        # get free ports (jupyter_client binds port 0, then closes the socket)
        # before the kernel binds them, so two kernels can collide.
        log.warning("%s: the kernel died while starting; starting it again", source)
        result = children.run(command, env=child_env())
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


def sync_file(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` only if it differs, keeping times stable.

    Returns whether it copied.
    """
    if target.exists() and target.read_bytes() == source.read_bytes():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return True


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def stage_sources(options: BuildOptions, executed: Executed) -> tuple[Path, bool]:
    """Assemble the book's source tree from the repository and executed notebooks.

    Returns the tree and whether any executed notebook in it changed.
    """
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
    notebooks_changed = False
    for name, path in executed.paths.items():
        target = source / "notebooks" / f"{name}.ipynb"
        notebooks_changed |= sync_file(path, target)
        expected.add(target)
    static = source / "book" / "_static"
    sync_file(plotly_js(), static / "plotly.min.js")
    expected.add(static / "plotly.min.js")
    for part in MATHJAX_PARTS:
        origin = MATHJAX / part
        files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
        for path in filter(Path.is_file, files):
            target = static / "mathjax" / path.relative_to(MATHJAX)
            sync_file(path, target)
            expected.add(target)
    for path in list(source.rglob("*")):
        if path.is_file() and path not in expected and "_build" not in path.parts:
            path.unlink()
    return source, notebooks_changed


def fatal_warnings(lines: list[str]) -> list[str]:
    """Return the Sphinx warnings among ``lines`` that leave a page wrong."""
    return [
        line
        for line in lines
        if "WARNING" in line and any(kind in line for kind in FATAL_WARNINGS)
    ]


def build_site(options: BuildOptions, executed: Executed) -> Path:
    source, notebooks_changed = stage_sources(options, executed)
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(source),
        "--path-output",
        str(options.output_root),
        "--quiet",
    ]
    # Pages that glue numbers from another notebook are not rebuilt by Sphinx
    # when only that notebook changed, so any new notebook rebuilds them all.
    if notebooks_changed:
        command.append("--all")
    result = children.run(command, env=child_env())
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book failed:\n{result.stdout}\n{result.stderr}")
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    for line in warnings:
        log.warning("jupyter-book: %s", line)
    fatal = fatal_warnings(warnings)
    if fatal:
        raise RuntimeError(
            "jupyter-book left pages with unresolved glue, citations or "
            "references:\n" + "\n".join(fatal)
        )
    return options.build_dir / "html"


def write_timings(options: BuildOptions, record: dict[str, Any]) -> None:
    """Write the stages so far, with seconds, to ``_build/timings.json``."""
    seconds = {k: round(v, 2) for k, v in options.timings.items()}
    path = options.build_dir / "timings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**record, "seconds": seconds}, indent=2) + "\n")
