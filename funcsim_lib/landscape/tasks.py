"""Evaluating rows of landscape grids: in this process, in workers, on ranks.

A task is some rows of one grid. The process that runs it writes every
finished row at once to a file of its own, so an interrupted run loses at
most the row in progress.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from funcsim_lib import distributed
from funcsim_lib.config import StudyConfig
from funcsim_lib.landscape.evaluate import iter_rows, make_evaluator
from funcsim_lib.landscape.grid import Grid
from funcsim_lib.landscape.jobs import Job, evaluation_inputs
from funcsim_lib.landscape.plane import Plane
from funcsim_lib.store import save_arrays
from funcsim_lib.threads import torch_threads

if TYPE_CHECKING:
    from funcsim_lib.study import Study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """Some rows of one prepared job, for one process."""

    job: Job
    key: str
    rows_dir: str
    grid: Grid
    axes: tuple[dict[str, np.ndarray], ...]
    rows: tuple[int, ...]
    device: str
    method: str


@dataclass(frozen=True)
class TaskResult:
    """The rows a task computed, and the seconds it took."""

    key: str
    rows: tuple[int, ...]
    loss: np.ndarray  # (n_rows, n_beta)
    error: np.ndarray
    seconds: float


def run_task(task: Task, study: Study) -> TaskResult:
    """Evaluate the rows of ``task``, storing each finished row at once."""
    start = time.perf_counter()
    model = study.model(task.job.runs[0], device=task.device)
    axes = tuple({k: torch.from_numpy(v) for k, v in a.items()} for a in task.axes)
    x, y = evaluation_inputs(study, task.job.config)
    evaluator = make_evaluator(model, x, y, Plane.around(model, *axes), task.method)

    path = Path(task.rows_dir) / f"rows-{uuid.uuid4().hex}.npz"
    rows, losses, errors = [], [], []
    for row, loss, error in iter_rows(evaluator, task.grid, task.rows):
        rows.append(row)
        losses.append(loss)
        errors.append(error)
        save_arrays(
            path,
            key=np.array(task.key),
            rows=np.array(rows),
            loss=np.stack(losses),
            error=np.stack(errors),
        )

    seconds = time.perf_counter() - start
    log.debug("%s: %d rows in %.1f s", task.job.name, len(rows), seconds)
    n_beta = len(task.grid.betas)
    empty = np.zeros((0, n_beta))
    return TaskResult(
        key=task.key,
        rows=tuple(rows),
        loss=np.stack(losses) if losses else empty,
        error=np.stack(errors) if errors else empty,
        seconds=seconds,
    )


def run_tasks(study: Study, tasks: list[Task], workers: int) -> list[TaskResult]:
    """Run ``tasks`` in ``workers`` processes, or here when 1 or on a GPU."""
    if any(t.device != "cpu" for t in tasks):
        return [run_task(t, study) for t in tasks]
    if workers == 1 or len(tasks) <= 1:
        with one_thread():
            return [run_task(t, study) for t in tasks]
    context = multiprocessing.get_context(start_method())
    n_processes = min(workers, len(tasks))
    _STUDIES[(study.config, str(study.store.root))] = study
    with ProcessPoolExecutor(n_processes, mp_context=context) as pool:
        futures = [
            pool.submit(_task_in_worker, study.config, str(study.store.root), t)
            for t in tasks
        ]
        return [f.result() for f in futures]


def run_on_ranks(
    study: Study, tasks: list[Task], ranks: distributed.Ranks
) -> list[TaskResult]:
    """Run this rank's ``tasks``; return the results of every rank on rank 0."""
    on_cpu = all(t.device == "cpu" for t in tasks)
    with one_thread() if on_cpu else nullcontext():
        mine = [run_task(t, study) for t in tasks if t.rows]
    gathered = distributed.gather_to_root(mine, ranks)
    return [r for part in gathered for r in part] if ranks.is_root else []


def one_thread() -> AbstractContextManager[None]:
    """Run the block with one PyTorch CPU thread, then restore the count.

    The models are small enough that a second thread mostly waits: on the
    2-core machine this project is measured on, a smoke-model point took
    0.7 ms with one thread and 11 ms with two while other jobs ran.
    """
    return torch_threads(1)


def start_method() -> str:
    """Return how worker processes start: ``fork`` where it is safe, else ``spawn``.

    A forked worker starts at once and inherits the opened study, where a
    spawned one first imports torch (7 s on the 2-core machine this project is
    measured on, under load). Forking is safe here because CUDA is not
    initialised in the parent and each worker runs one thread, so no OpenMP
    thread pool is needed after the fork.
    """
    if (
        "fork" in multiprocessing.get_all_start_methods()
        and not torch.cuda.is_initialized()
    ):
        return "fork"
    return "spawn"


# Studies opened in this process, by (configuration, store root): a forked
# worker finds its parent's here, a spawned one opens its own once.
_STUDIES: dict[tuple[StudyConfig, str], Study] = {}


def _worker_study(config: StudyConfig, store_root: str) -> Study:
    from funcsim_lib.study import Study

    key = (config, store_root)
    if key not in _STUDIES:
        _STUDIES[key] = Study(config, store_root)
    return _STUDIES[key]


def _task_in_worker(config: StudyConfig, store_root: str, task: Task) -> TaskResult:
    # One thread per process: the processes already share the cores.
    torch.set_num_threads(1)
    return run_task(task, _worker_study(config, store_root))
