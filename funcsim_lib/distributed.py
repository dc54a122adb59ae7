"""Running under ``torchrun``: ranks, the process group, and sharing work.

``torchrun`` starts one process per rank and describes the group in the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). ``process_group`` joins that group for the duration of a
``with`` block; outside ``torchrun`` it does nothing and every helper here
behaves as for a single rank, so the same code runs in both.

The backend is NCCL when CUDA is available and gloo otherwise; gloo on CPU
processes is how the project tests this path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

T = TypeVar("T")
# A rank waits this long for the others (a landscape row on a slow CPU takes
# seconds, a whole grid minutes) before the collective call fails.
DEFAULT_TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group: ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def current() -> Ranks:
    """Return the ranks of the joined process group, or a single rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank)


def device_for(ranks: Ranks, requested: str) -> str:
    """Return the device of this rank: its own GPU when ``requested`` is CUDA."""
    if requested.startswith("cuda") and ranks.is_distributed:
        return f"cuda:{ranks.local_rank}"
    return requested


@contextmanager
def process_group(
    backend: str | None = None, timeout: timedelta = DEFAULT_TIMEOUT
) -> Iterator[Ranks]:
    """Join the process group that ``torchrun`` describes, for a ``with`` block.

    Outside ``torchrun`` (``WORLD_SIZE`` unset or 1), or when a group is
    already joined, nothing is initialised or destroyed.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1 or (dist.is_available() and dist.is_initialized()):
        yield current()
        return
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this PyTorch build")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timeout)
    ranks = current()
    log.info("rank %d of %d joined (%s)", ranks.rank, ranks.world_size, backend)
    try:
        yield ranks
    finally:
        dist.destroy_process_group()


def shard(items: Sequence[T], ranks: Ranks) -> list[T]:
    """Return this rank's share of ``items``: every ``world_size``-th, interleaved."""
    return list(items[ranks.rank :: ranks.world_size])


def broadcast_from_root(obj: Any, ranks: Ranks) -> Any:
    """Return rank 0's ``obj`` on every rank (picklable objects only)."""
    if not ranks.is_distributed:
        return obj
    box = [obj if ranks.is_root else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_to_root(obj: Any, ranks: Ranks) -> list[Any] | None:
    """Return every rank's ``obj`` in rank order on rank 0, None on the others."""
    if not ranks.is_distributed:
        return [obj]
    gathered = [None] * ranks.world_size if ranks.is_root else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def barrier(ranks: Ranks) -> None:
    """Wait until every rank arrives here; nothing to wait for on one rank."""
    if ranks.is_distributed:
        dist.barrier()
