"""The all-pairs engine: sufficient statistics of many model pairs in one pass.

The models' outputs are read in blocks of epochs and samples. The block of
every model is prepared once (one softmax for all of them, stacked), and
every requested pair adds its per-sample sums and counts for that block.
Blocks are summed in a fixed order, and each block runs on one torch
thread, so the result does not depend on the number of worker threads. The
memory in use is set by the block size, not by the number of samples or
epochs. Every measure is then a function of these statistics.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from funcsim_lib.measures import kernels
from funcsim_lib.measures._validation import (
    check_labels,
    check_output_values,
    check_outputs_shape,
    check_positive,
)
from funcsim_lib.measures.outputs import Outputs, from_logits, from_probabilities
from funcsim_lib.threads import torch_threads

# Statistics a measure may need; the sums are over samples, per epoch and pair.
COUNTS = ("disagreements", "errors", "histograms")
SUMS = ("activation", "cosine", "jsd", "churn")

# Entries of one model's block (n_epochs_in_block * n_samples_in_block *
# n_classes) and of all models' blocks together. The first keeps a pair's
# temporaries near the size of a core's cache; the second caps the memory of
# the prepared block, which holds a few float64 arrays per model.
BLOCK_ENTRIES = 2**17
MAX_PREPARED_ENTRIES = 2**21


@dataclass
class PairStatistics:
    """Counts and sums over samples for each epoch and each pair of models.

    ``pairs[k] = (i, j)`` means pair ``k`` compares model ``i`` with model
    ``j``; an asymmetric measure reads it as model ``i`` against reference
    ``j``.
    """

    n_samples: int
    n_classes: int
    pairs: np.ndarray  # (n_pairs, 2) int
    disagreements: np.ndarray | None = None  # (n_epochs, n_pairs) int64
    errors: np.ndarray | None = None  # (n_epochs, n_models) int64
    histograms: np.ndarray | None = None  # (n_epochs, n_models, n_classes) int64
    sums: dict[str, np.ndarray] = field(default_factory=dict)  # (n_epochs, n_pairs)


def pair_statistics(
    models: Sequence[np.ndarray],
    pairs: np.ndarray,
    needs: set[str],
    *,
    names: Sequence[str],
    labels: np.ndarray | None = None,
    inputs: str = "logits",
    alpha: float = 1.0,
    chunk_size: int | None = None,
    workers: int | None = 1,
    check_values: bool = True,
) -> PairStatistics:
    """Compute the statistics in ``needs`` for ``pairs`` of ``models``.

    Parameters
    ----------
    models
        Arrays ``(n_epochs, n_samples, n_classes)`` of one shape, logits or
        probabilities as ``inputs`` says; memory-mapped arrays are read block
        by block.
    pairs
        ``(n_pairs, 2)`` indices into ``models``.
    needs
        Names from ``COUNTS`` and ``SUMS``.
    names
        One name per model, used in error messages.
    labels
        ``(n_samples,)`` true classes; required for ``"errors"``.
    alpha
        Exponent of the surrogate churn.
    chunk_size
        Samples per block and model; None chooses from ``BLOCK_ENTRIES``.
    workers
        Threads that compute blocks side by side (torch releases the GIL in
        its operations); None uses every CPU. Torch's own thread count is 1
        while the engine runs and is restored afterwards.
    check_values
        Check each block for NaN, inf and rows that are not distributions;
        False where the caller has checked the whole arrays already.
    """
    arrays = [check_outputs_shape(name, m, inputs) for name, m in zip(names, models)]
    shape = arrays[0].shape
    for name, array in zip(names, arrays):
        if array.ndim != 3 or array.shape != shape:
            raise ValueError(
                f"{name} must have shape (n_epochs, n_samples, n_classes) = "
                f"{shape}, like {names[0]}, got {array.shape}"
            )
    n_epochs, n_samples, n_classes = shape
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    unknown = set(needs) - set(COUNTS) - set(SUMS)
    if unknown:
        raise ValueError(f"unknown statistics {sorted(unknown)}")
    truth = None
    if "errors" in needs:
        truth = check_labels("labels", labels, n_samples, n_classes)
    alpha = check_positive("alpha", alpha)
    rows = _rows_per_block(chunk_size, n_samples, n_classes, len(arrays))
    plan = _Plan(
        arrays, names, pairs, frozenset(needs), truth, inputs, alpha, check_values
    )
    stats = plan.empty(n_epochs)
    blocks = list(_blocks(n_epochs, n_samples, rows))
    n_threads = min(len(blocks), _threads(workers))
    with torch_threads(1):
        if n_threads <= 1:
            results: Iterator = map(plan.block, blocks)
            for block, partial in zip(blocks, results):
                plan.add(stats, block, partial)
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                for block, partial in zip(blocks, pool.map(plan.block, blocks)):
                    plan.add(stats, block, partial)
    return stats


def _threads(workers: int | None) -> int:
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer):
        raise TypeError(f"workers must be an int or None, got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return int(workers)


def _rows_per_block(
    chunk_size: int | None, n_samples: int, n_classes: int, n_models: int
) -> int:
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
            raise TypeError(f"chunk_size must be an int, got {chunk_size!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        return int(chunk_size)
    rows = max(1, BLOCK_ENTRIES // n_classes)
    return max(1, min(rows, MAX_PREPARED_ENTRIES // (n_classes * n_models)))


def _blocks(n_epochs: int, n_samples: int, rows: int) -> Iterator[tuple[slice, slice]]:
    """Yield (epochs, samples) slices: whole epochs when they fit in ``rows``."""
    if n_samples <= rows:
        step = rows // n_samples
        for start in range(0, n_epochs, step):
            yield slice(start, min(start + step, n_epochs)), slice(0, n_samples)
        return
    for epoch in range(n_epochs):
        for start in range(0, n_samples, rows):
            yield slice(epoch, epoch + 1), slice(start, min(start + rows, n_samples))


@dataclass(frozen=True)
class _Plan:
    """What to compute for each block; ``block`` runs in worker threads."""

    arrays: Sequence[np.ndarray]
    names: Sequence[str]
    pairs: np.ndarray
    needs: frozenset[str]
    truth: np.ndarray | None
    inputs: str
    alpha: float
    check_values: bool

    @property
    def used(self) -> list[int]:
        """Models that appear in a pair, or all of them where errors are needed."""
        if "errors" in self.needs or "histograms" in self.needs:
            return list(range(len(self.arrays)))
        return sorted(set(self.pairs.ravel().tolist()))

    def empty(self, n_epochs: int) -> PairStatistics:
        n_models, n_pairs = len(self.arrays), len(self.pairs)
        _, n_samples, n_classes = self.arrays[0].shape
        stats = PairStatistics(n_samples, n_classes, self.pairs)
        if "disagreements" in self.needs:
            stats.disagreements = np.zeros((n_epochs, n_pairs), np.int64)
        if "errors" in self.needs:
            stats.errors = np.zeros((n_epochs, n_models), np.int64)
        if "histograms" in self.needs:
            stats.histograms = np.zeros((n_epochs, n_models, n_classes), np.int64)
        for name in SUMS:
            if name in self.needs:
                stats.sums[name] = np.zeros((n_epochs, n_pairs))
        return stats

    def prepare(self, epochs: slice, samples: slice) -> Outputs:
        """Prepare the block of every used model, stacked along a first axis."""
        blocks = []
        for k in self.used:
            block = self.arrays[k][epochs, samples]
            if self.check_values:
                offset = (epochs.start, samples.start)
                check_output_values(self.names[k], block, self.inputs, offset)
            blocks.append(block)
        stacked = np.stack(blocks)
        if self.inputs == "probabilities":
            return from_probabilities(stacked)
        return from_logits(stacked)

    def block(self, where: tuple[slice, slice]) -> dict[str, np.ndarray]:
        epochs, samples = where
        out = self.prepare(epochs, samples)  # (n_used, n_epochs, ...)
        position = {k: n for n, k in enumerate(self.used)}
        pairs = torch.tensor(
            [[position[i], position[j]] for i, j in self.pairs], dtype=torch.int64
        ).reshape(-1, 2)
        partial: dict[str, torch.Tensor] = {}
        predictions = out.predictions
        if "disagreements" in self.needs:
            differ = predictions[pairs[:, 0]] != predictions[pairs[:, 1]]
            partial["disagreements"] = differ.sum(dim=-1).T
        if "errors" in self.needs:
            truth = torch.from_numpy(self.truth[samples])
            partial["errors"] = (predictions != truth).sum(dim=-1).T
        if "histograms" in self.needs:
            partial["histograms"] = _histograms(out)
        if "cosine" in self.needs:
            partial["cosine"] = _cosine_sums(out, pairs)
        partial.update(self._pair_sums(out, pairs))
        return {name: values.numpy() for name, values in partial.items()}

    def _pair_sums(self, out: Outputs, pairs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sum the per-sample measures of each pair, one pair at a time.

        A pair's temporaries are the size of one model's block, so both
        models' blocks and the temporaries stay in the cache between the
        operations. Broadcasting one model against several others at once
        makes fewer calls but ran about 25 % slower in one measurement on the
        development CPU.
        """
        names = [n for n in ("activation", "jsd", "churn") if n in self.needs]
        if not names:
            return {}
        n_epochs = out.predictions.shape[1]
        sums = {
            n: torch.empty(len(pairs), n_epochs, dtype=torch.float64) for n in names
        }
        if "churn" in sums:
            vectors = kernels.churn_vectors(out, self.alpha)
        if "jsd" in sums:
            out.prepare_entropy_terms()
            workspace = kernels.Workspace(out.probs[0].numel())
        models = [out.take(n) for n in range(len(out.probs))]
        for column, (i, j) in enumerate(pairs.tolist()):
            a, b = models[i], models[j]
            if "activation" in sums or "jsd" in sums:
                distance = kernels.l2_rows(a.probs, b.probs)
            if "activation" in sums:
                sums["activation"][column] = distance.sum(dim=-1)
            if "jsd" in sums:
                sums["jsd"][column] = kernels.js_divergence_sums(
                    a, b, distance, workspace
                )
            if "churn" in sums:
                rows = kernels.churn_rows(vectors[i], vectors[j])
                sums["churn"][column] = rows.sum(dim=-1)
        return {name: values.T for name, values in sums.items()}

    def add(
        self,
        stats: PairStatistics,
        where: tuple[slice, slice],
        partial: dict[str, np.ndarray],
    ) -> None:
        epochs = where[0]
        for name, values in partial.items():
            if name in SUMS:
                stats.sums[name][epochs] += values
            else:
                getattr(stats, name)[epochs] += values


def _histograms(out: Outputs) -> torch.Tensor:
    """Return the predicted-class counts ``(n_epochs, n_models, n_classes)``."""
    predictions = out.predictions.transpose(0, 1)  # (n_epochs, n_models, n)
    n_epochs, n_models = predictions.shape[:2]
    n_classes = out.n_classes
    offsets = torch.arange(n_epochs * n_models).reshape(n_epochs, n_models, 1)
    counts = torch.bincount(
        (predictions + offsets * n_classes).ravel(),
        minlength=n_epochs * n_models * n_classes,
    )
    return counts.reshape(n_epochs, n_models, n_classes)


def _cosine_sums(out: Outputs, pairs: torch.Tensor) -> torch.Tensor:
    """Sum the per-sample cosines of each pair with one Gram matrix per epoch.

    With each sample scaled to unit norm, the sum over samples of the
    per-sample dot products is the dot product of the flattened blocks, so a
    batched matrix product serves all pairs at once.
    """
    units = kernels.unit_rows(out.probs).flatten(-2).transpose(0, 1)  # (E, n, K)
    gram = units @ units.transpose(1, 2)  # (n_epochs, n_models, n_models)
    return gram[:, pairs[:, 0], pairs[:, 1]]
