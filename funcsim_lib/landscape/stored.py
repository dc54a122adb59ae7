"""Landscape grids of a stored study: computed once, resumable, shared out.

Each grid is stored in the study's ``analyses/landscapes`` folder as
``<job name>-<key>.npz``. The key hashes the job's settings, the fingerprints
of its runs' weights and of its axes, and the number of test images. A grid
is therefore never reused when any of them changed. The stored file repeats
the settings and the key, and a file whose copy differs is computed again.

While a grid is computed, every process appends each finished row to a file
of its own under ``<job name>-<key>.rows/``. A later call with the same key
reads those rows and computes only the missing ones. Rows are shared among
``workers`` processes of one thread each or, under ``torchrun``, among the
ranks. The parent process or rank 0 merges them and writes the grid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from funcsim_lib import distributed
from funcsim_lib.config import LandscapeConfig
from funcsim_lib.landscape.directions import tensors_fingerprint
from funcsim_lib.landscape.grid import Grid
from funcsim_lib.landscape.jobs import (
    Job,
    RandomPlane,
    evaluation_inputs,
    section_jobs,
)
from funcsim_lib.landscape.tasks import Task, TaskResult, run_on_ranks, run_tasks
from funcsim_lib.store import load_arrays, save_arrays

if TYPE_CHECKING:
    from funcsim_lib.study import Study

log = logging.getLogger(__name__)

# Bump when the meaning of a stored grid changes, so old files are not reused.
LANDSCAPE_FORMAT = 2


@dataclass
class Prepared:
    """A job with its axes, key, paths and the rows already computed."""

    job: Job
    key: str
    settings: dict[str, Any]
    path: Path
    rows_dir: Path
    grid: Grid
    axes: tuple[dict[str, np.ndarray], ...]
    extras: dict[str, Any]
    done: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    stored: dict[str, np.ndarray] | None = None

    @property
    def pending(self) -> list[int]:
        return [r for r in range(len(self.grid.alphas)) if r not in self.done]


# -- public API -----------------------------------------------------------------


def compute_surfaces(
    study: Study,
    jobs: Sequence[Job],
    workers: int = 1,
    device: str | None = None,
    method: str = "auto",
) -> list[dict[str, np.ndarray]]:
    """Return the stored grid of each job, computing what is missing.

    Parameters
    ----------
    study
        The trained study whose runs the jobs name.
    jobs
        ``RandomPlane``, ``Interpolation`` or ``ModelPlane`` jobs.
    workers
        Processes that share the missing rows, one thread each; with 1 the
        rows run in this process, also on one thread. Under ``torchrun`` the
        ranks share them instead and ``workers`` is ignored.
    device
        Where the models run; None: the study's device, or the CPU when that
        is CUDA and no GPU is present.
    method
        Evaluator, as in ``funcsim_lib.landscape.evaluate.make_evaluator``.

    Returns
    -------
    list of dict
        Per job: ``alphas``, ``betas`` (not for lines), ``loss`` and ``error``
        ``(n_alpha, n_beta)`` or ``(n_alpha,)`` for lines, ``key``,
        ``settings`` (JSON) and ``seconds``: the evaluation time of the call
        that finished the grid, summed over processes. Random planes add
        ``direction_seed`` and ``direction_cosine``, lines ``distance``, and
        model planes ``model_coordinates`` ``(3, 2)`` and ``model_runs``.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    for job in jobs:
        for run in job.runs:
            study.run(run)
    ranks = distributed.current()
    device = distributed.device_for(ranks, device or default_device(study))
    prepared = [prepare(study, job) for job in jobs] if ranks.is_root else None
    prepared = distributed.broadcast_from_root(prepared, ranks)
    pending = [p for p in prepared if p.stored is None]
    if ranks.is_distributed:
        shares = [
            make_task(p, distributed.shard(p.pending, ranks), device, method)
            for p in pending
        ]
        results = run_on_ranks(study, shares, ranks)
    else:
        results = run_tasks(
            study, split_tasks(pending, workers, device, method), workers
        )

    if ranks.is_root:
        for p in pending:
            p.stored = merge(p, [r for r in results if r.key == p.key])
    stored = [p.stored for p in prepared] if ranks.is_root else None
    return distributed.broadcast_from_root(stored, ranks)


def compute_landscapes(
    study: Study, config: LandscapeConfig, workers: int = 1, **options
) -> dict[str, dict[str, np.ndarray]]:
    """Return the random-plane landscape of each run in ``config.runs``.

    ``options`` are ``device`` and ``method`` of ``compute_surfaces``.
    """
    jobs = [RandomPlane(run, config) for run in config.runs]
    grids = compute_surfaces(study, jobs, workers, **options)
    return dict(zip(config.runs, grids))


def compute_section(
    study: Study, config: LandscapeConfig, workers: int = 1, **options
) -> dict[str, dict[str, np.ndarray]]:
    """Return every grid of ``section_jobs(config)``, keyed by the job's name."""
    jobs = section_jobs(config)
    grids = compute_surfaces(study, jobs, workers, **options)
    return {job.name: grid for job, grid in zip(jobs, grids)}


def default_device(study: Study) -> str:
    """Return the study's device, or the CPU when it names an absent GPU."""
    device = study.config.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        log.warning(
            "the study's device is %s but no GPU is present; using the CPU", device
        )
        return "cpu"
    return device


# -- preparing a job --------------------------------------------------------------


def prepare(study: Study, job: Job) -> Prepared:
    """Build the job's axes and key, and find what the store already has."""
    models = {run: study.model(run) for run in job.runs}
    weights = {run: tensors_fingerprint(m.state_dict()) for run, m in models.items()}
    axes, extras = job.build_axes(models)

    flat_axes = {
        f"{k}/{name}": t for k, axis in enumerate(axes) for name, t in axis.items()
    }
    n_images = len(evaluation_inputs(study, job.config)[1])
    settings = {
        **job.settings(),
        "weights_sha256": weights,
        "axes_sha256": tensors_fingerprint(flat_axes),
        "n_images": n_images,
        "dtype": "float32",
        "format": LANDSCAPE_FORMAT,
    }
    text = json.dumps(settings, sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]

    folder = study.store.analysis_path("landscapes")
    stem = f"{job.name}-{key}"
    prepared = Prepared(
        job=job,
        key=key,
        settings=settings,
        path=folder / f"{stem}.npz",
        rows_dir=folder / f"{stem}.rows",
        grid=job.grid(extras),
        axes=tuple({k: t.numpy() for k, t in axis.items()} for axis in axes),
        extras=extras,
    )

    if prepared.path.exists():
        stored = load_arrays(prepared.path)
        if _matches(stored, key, settings):
            prepared.stored = stored
            return prepared
        log.warning("%s does not match its settings; computing it again", prepared.path)
    prepared.done = read_rows(prepared)
    if prepared.done:
        log.info(
            "%s: resuming, %d of %d rows done",
            job.name,
            len(prepared.done),
            len(prepared.grid.alphas),
        )
    return prepared


def _matches(stored: dict[str, np.ndarray], key: str, settings: dict) -> bool:
    if "key" not in stored or "settings" not in stored:
        return False
    return str(stored["key"]) == key and json.loads(str(stored["settings"])) == settings


def read_rows(prepared: Prepared) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Return the rows that earlier, unfinished attempts stored for this key."""
    done: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not prepared.rows_dir.is_dir():
        return done
    n_rows, n_beta = prepared.grid.shape
    for path in sorted(prepared.rows_dir.glob("rows-*.npz")):
        try:
            part = load_arrays(path)
        except (OSError, ValueError) as error:
            log.warning("skipping unreadable row file %s: %s", path, error)
            continue
        fields = {"key", "rows", "loss", "error"}
        if not fields <= part.keys() or str(part["key"]) != prepared.key:
            log.warning("skipping row file %s: it belongs to another grid", path)
            continue
        if part["loss"].shape[1:] != (n_beta,):
            log.warning("skipping row file %s: its rows are not %d long", path, n_beta)
            continue
        for row, loss, error in zip(part["rows"], part["loss"], part["error"]):
            if 0 <= row < n_rows:
                done.setdefault(int(row), (loss, error))
    return done


def make_task(
    prepared: Prepared, rows: Sequence[int], device: str, method: str
) -> Task:
    """Return the task that evaluates ``rows`` of a prepared job."""
    return Task(
        job=prepared.job,
        key=prepared.key,
        rows_dir=str(prepared.rows_dir),
        grid=prepared.grid,
        axes=prepared.axes,
        rows=tuple(rows),
        device=device,
        method=method,
    )


def split_tasks(
    pending: list[Prepared], workers: int, device: str, method: str
) -> list[Task]:
    """Share each job's missing rows among ``workers``, interleaved, largest first.

    Interleaved rows balance the work, since every row has the same number of
    points; the largest tasks go first so the processes finish close together.
    """
    tasks = [
        make_task(p, p.pending[i::workers], device, method)
        for p in pending
        for i in range(workers)
    ]
    tasks = [t for t in tasks if t.rows]
    tasks.sort(key=lambda t: len(t.rows) * len(t.grid.betas), reverse=True)
    return tasks


# -- merging --------------------------------------------------------------------


def merge(prepared: Prepared, results: Sequence[TaskResult]) -> dict[str, np.ndarray]:
    """Join stored and new rows into the whole grid, store it, drop the row files."""
    n_rows, n_beta = prepared.grid.shape
    loss = np.full((n_rows, n_beta), np.nan)
    error = np.full((n_rows, n_beta), np.nan)
    filled = np.zeros(n_rows, dtype=bool)
    for row, (row_loss, row_error) in prepared.done.items():
        loss[row], error[row], filled[row] = row_loss, row_error, True
    for result in results:
        for i, row in enumerate(result.rows):
            loss[row], error[row], filled[row] = result.loss[i], result.error[i], True
    if not filled.all():
        missing = np.flatnonzero(~filled).tolist()
        raise RuntimeError(f"{prepared.job.name}: rows {missing} were not computed")

    arrays: dict[str, Any] = {"alphas": prepared.grid.alphas}
    if prepared.job.kind == "line":
        loss, error = loss[:, 0], error[:, 0]
    else:
        arrays["betas"] = prepared.grid.betas
    arrays.update(
        loss=loss,
        error=error,
        key=np.array(prepared.key),
        settings=np.array(json.dumps(prepared.settings, sort_keys=True)),
        seconds=np.float64(sum(r.seconds for r in results)),
        **prepared.extras,
    )

    save_arrays(prepared.path, **arrays)
    shutil.rmtree(prepared.rows_dir, ignore_errors=True)
    log.info(
        "%s: %d of %d rows computed in %.1f s (summed over processes)",
        prepared.job.name,
        sum(len(r.rows) for r in results),
        n_rows,
        float(arrays["seconds"]),
    )
    return load_arrays(prepared.path)
