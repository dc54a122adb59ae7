"""What the "how this book was built" page reports: study, software, times.

The pipeline writes ``_build/timings.json`` twice: before it executes that
page, with the stages done so far, and at the end, with every stage. The page
therefore shows the train and notebooks stages of the build that executed it.
The site stage runs after it, so its time is only in the final file.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from funcsim_lib.store import PACKAGES as STUDY_PACKAGES
from funcsim_lib.store import package_versions

if TYPE_CHECKING:
    from funcsim_lib.config import StudyConfig
    from funcsim_lib.study import Study

REPO = Path(__file__).resolve().parent.parent
# The packages whose versions the page lists, in this order: those the
# study's manifest records, then those that build the book.
PACKAGES = (
    *STUDY_PACKAGES,
    "plotly",
    "papermill",
    "jupyter-book",
    "sphinx",
    "myst-nb",
    "sphinx-book-theme",
    "sphinxcontrib-bibtex",
    "ipywidgets",
)
# The work of each pipeline stage, for the stage table.
STAGES = {
    "train": "train every missing run of the study, or find it in the store",
    "notebooks": "execute the section notebooks with papermill",
    "record": "execute this page",
    "site": "build the HTML with jupyter-book",
}


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """Return a Markdown table; cells are converted with ``str``."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


@dataclass
class NotebookRun:
    """One executed notebook, as papermill recorded it in its metadata."""

    name: str
    end_time: str
    seconds: float | None
    in_this_build: bool


@dataclass
class BuildRecord:
    """The pipeline's record of one build, read while the build runs."""

    date: str  # when the record was read: the build's date
    seconds: dict[str, float] = field(default_factory=dict)
    trained: bool | None = None  # None: not recorded
    notebooks: list[NotebookRun] = field(default_factory=list)

    def stage_note(self) -> str:
        """Return the sentences that explain where the stage times come from."""
        if not self.seconds:
            return (
                "This page was executed outside the pipeline of a build of this "
                "study, so no stage times were recorded for it."
            )
        note = (
            "The site stage runs after this page has been executed, so its time "
            "cannot be on this page: make book prints it when it finishes, and "
            "the file _build/timings.json keeps it."
        )
        if self.trained is False:
            note += (
                " This build found the whole study in the run store, so its "
                "train stage only checked the stored runs."
            )
        if any(not run.in_this_build for run in self.notebooks):
            note += (
                " Notebooks marked as reused were executed by an earlier build "
                "with the same sources, parameters and library code."
            )
        return note

    def stages_table(self) -> str:
        """Return the stages done before this page, with their seconds."""
        rows = [
            [f"`{name}`", STAGES.get(name, ""), f"{seconds:.1f}"]
            for name, seconds in self.seconds.items()
        ]
        if not rows:
            return "No stage times were recorded.\n"
        return markdown_table(["stage", "what it does", "seconds"], rows)

    def notebooks_table(self) -> str:
        """Return each executed notebook's execution time and when it ended."""
        rows = [
            [
                f"`{run.name}`",
                run.end_time,
                "-" if run.seconds is None else f"{run.seconds:.1f}",
                "this build" if run.in_this_build else "reused",
            ]
            for run in self.notebooks
        ]
        if not rows:
            return "No executed notebooks were found.\n"
        header = ["notebook", "executed until (UTC)", "seconds", "executed by"]
        return markdown_table(header, rows)


def readable_time(iso_time: str | None) -> str:
    """Return an ISO 8601 time as ``4 December 2026, 14:59 UTC``.

    >>> readable_time("2026-12-04T14:59:19+00:00")
    '4 December 2026, 14:59 UTC'
    """
    if not iso_time:
        return "an unrecorded time"
    when = datetime.fromisoformat(iso_time).astimezone(UTC)
    return f"{when.day} {when:%B %Y, %H:%M} UTC"


def read_build_record(build_dir: str | os.PathLike, study_hash: str) -> BuildRecord:
    """Read the stage times and the executed notebooks under ``build_dir``.

    A record of another study, such as the last ``make book`` seen from a
    notebook rerun with another profile, is ignored, so the page then shows no
    stage times and no notebooks.
    """
    import nbformat

    build_dir = Path(build_dir)
    now = datetime.now(UTC)
    record = BuildRecord(date=f"{now.day} {now:%B %Y}")
    timings_path = build_dir / "timings.json"
    if not timings_path.exists():
        return record
    timings = json.loads(timings_path.read_text())
    if timings.get("study") != study_hash:
        return record
    record.seconds = dict(timings.get("seconds", {}))
    record.trained = timings.get("trained")
    executed = list(timings.get("executed", []))
    for path in sorted((build_dir / "executed").glob("*.ipynb")):
        info = nbformat.read(path, as_version=4).metadata.get("papermill", {})
        end = str(info.get("end_time") or "-")[:19].replace("T", " ")
        if path.stem == "colophon":
            continue  # this page, which is being executed now
        record.notebooks.append(
            NotebookRun(path.stem, end, info.get("duration"), path.stem in executed)
        )
    return record


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "unknown"
    return f"{total / 2**30:.1f} GiB"


def _gpu() -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed"
    if not torch.cuda.is_available():
        return "none visible to torch"
    count = torch.cuda.device_count()
    return f"{count} x {torch.cuda.get_device_name(0)}"


def _mathjax_version() -> str:
    package = REPO / "node_modules" / "mathjax" / "package.json"
    if not package.exists():
        return "not installed"
    return json.loads(package.read_text()).get("version", "unknown")


def build_environment() -> dict[str, dict[str, str]]:
    """Return the versions and hardware of the machine running the build."""
    versions = package_versions(PACKAGES)
    versions["mathjax (npm)"] = _mathjax_version()
    hardware = {
        "cpu": _cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "memory": _memory_gib(),
        "gpu": _gpu(),
        "system": platform.platform(),
    }
    return {"versions": versions, "hardware": hardware}


def versions_table(environment: dict, manifest: dict) -> str:
    """Return the package versions now and when the study was trained."""
    trained = manifest.get("versions", {})
    names = list(environment["versions"])
    names += [n for n in trained if n not in names]
    rows = [
        [name, environment["versions"].get(name, "-"), trained.get(name, "-")]
        for name in names
    ]
    return markdown_table(["package", "this build", "study training"], rows)


def hardware_table(environment: dict, manifest: dict) -> str:
    """Return the hardware now and the hardware the study manifest records."""
    trained = manifest.get("hardware", {})
    now = environment["hardware"]
    rows = [
        ["processor", now["cpu"], trained.get("processor", "-")],
        ["logical CPUs", now["cpu_count"], trained.get("cpu_count", "-")],
        ["memory", now["memory"], "-"],
        ["GPU", now["gpu"], trained.get("gpu", "-")],
        ["training device", "-", trained.get("device", "-")],
        ["system", now["system"], trained.get("system", "-")],
    ]
    return markdown_table(["", "this build", "study training"], rows)


def runs_table(study: Study) -> str:
    """Return every run's seeds and its final test accuracy and loss."""
    rows = []
    for run in study.runs:
        final = study.log(run.name)[-1]
        rows.append(
            [
                f"`{run.name}`",
                run.condition,
                run.init_seed,
                run.data_seed,
                f"{100 * final['test_accuracy']:.1f} %",
                f"{final['test_loss']:.4f}",
            ]
        )
    header = ["run", "condition", "init seed", "data seed", "test accuracy", "loss"]
    return markdown_table(header, rows)


def settings_table(config: StudyConfig) -> str:
    """Return the data, model and recipe settings that size the study."""
    data, model, train = config.data, config.model, config.train
    rows = [
        ["data", data.name],
        ["training / test images", f"{data.n_train or 'all'} / {data.n_test or 'all'}"],
        [
            "model",
            f"ViT, patch {model.patch_size}, width {model.embed_dim}, "
            f"depth {model.depth}, {model.num_heads} heads",
        ],
        ["epochs", train.epochs],
        ["batch size", train.batch_size],
        ["peak learning rate (AdamW)", train.lr],
        ["device", config.device],
    ]
    return markdown_table(["setting", "value"], rows)


def _yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def rebuild_commands(config: StudyConfig, overrides: dict | None) -> str:
    """Return the command lines that rebuild the book and rerun one notebook."""
    seeds = (
        f"--init-seeds {' '.join(map(str, config.init_seeds))} "
        f"--data-seeds {' '.join(map(str, config.data_seeds))}"
    )
    settings = "".join(
        " --set " + shlex.quote(f"{key}={_yaml_value(value)}")
        for key, value in (overrides or {}).items()
    )
    parameters: dict[str, Any] = {
        "init_seeds": list(config.init_seeds),
        "data_seeds": list(config.data_seeds),
    }
    if overrides:
        parameters["overrides"] = overrides
    return (
        "```sh\n"
        f".venv/bin/funcsim book --profile {config.profile} {seeds}{settings}\n"
        "# or one notebook, with papermill directly:\n"
        "mkdir -p _build/reruns && cd notebooks && \\\n"
        "  ../.venv/bin/papermill quantitative.ipynb "
        f"../_build/reruns/quantitative.ipynb -p profile {config.profile} "
        f"-y {shlex.quote(_yaml_value(parameters))}\n"
        "```\n"
    )
