"""The all-pairs engine: sufficient statistics of many model pairs in one pass.

The models' outputs are read in blocks of epochs and samples. Each block is
prepared once per model (one ``log_softmax``), and every requested pair adds
its per-sample sums and counts for that block. Blocks are summed in a fixed
order, so the result does not depend on the number of worker threads, and
the memory in use is set by the block size, not by the number of samples or
epochs. Every measure is then a function of these statistics.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from funcsim_lib.measures import kernels
from funcsim_lib.measures._validation import (
    check_labels,
    check_output_values,
    check_outputs_shape,
    check_positive,
)
from funcsim_lib.measures.outputs import Outputs, from_logits, from_probabilities

# Statistics a measure may need; the sums are over samples, per epoch and pair.
COUNTS = ("disagreements", "errors", "histograms")
SUMS = ("activation", "cosine", "jsd", "churn")

# Entries of one model's block (n_epochs_in_block * n_samples_in_block *
# n_classes) and of all models' blocks together. The first keeps a pair's
# temporaries near the size of a core's cache; the second caps the memory of
# the prepared block, which holds a few float64 arrays per model.
BLOCK_ENTRIES = 2**16
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
        Threads that prepare blocks side by side (NumPy releases the GIL in
        its array operations); None uses every CPU.
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

    def prepare(self, k: int, epochs: slice, samples: slice) -> Outputs:
        block = self.arrays[k][epochs, samples]
        if self.check_values:
            offset = (epochs.start, samples.start)
            check_output_values(self.names[k], block, self.inputs, offset)
        if self.inputs == "probabilities":
            return from_probabilities(block)
        return from_logits(block)

    def block(self, where: tuple[slice, slice]) -> dict[str, np.ndarray]:
        epochs, samples = where
        out = {k: self.prepare(k, epochs, samples) for k in self.used}
        partial: dict[str, np.ndarray] = {}
        if "disagreements" in self.needs:
            partial["disagreements"] = np.stack(
                [
                    np.count_nonzero(out[i].predictions != out[j].predictions, axis=-1)
                    for i, j in self.pairs
                ],
                axis=-1,
            )
        if "errors" in self.needs:
            truth = self.truth[samples]
            partial["errors"] = np.stack(
                [np.count_nonzero(out[k].predictions != truth, axis=-1) for k in out],
                axis=-1,
            )
        if "histograms" in self.needs:
            partial["histograms"] = np.stack([_histogram(out[k]) for k in out], axis=1)
        for name in SUMS:
            if name in self.needs:
                partial[name] = self._sums(name, out)
        return partial

    def _sums(self, name: str, out: dict[int, Outputs]) -> np.ndarray:
        if name == "cosine":
            return _cosine_sums(out, self.pairs)
        if name == "churn":
            vectors = {
                k: kernels.churn_vectors(o.log_probs, self.alpha)
                for k, o in out.items()
            }
            rows = [kernels.churn_rows(vectors[i], vectors[j]) for i, j in self.pairs]
        elif name == "activation":
            rows = [kernels.l2_rows(out[i].probs, out[j].probs) for i, j in self.pairs]
        else:
            rows = [
                kernels.js_divergence_rows(
                    out[i].log_probs, out[i].probs, out[j].log_probs, out[j].probs
                )
                for i, j in self.pairs
            ]
        return np.stack([r.sum(axis=-1) for r in rows], axis=-1)

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


def _histogram(outputs: Outputs) -> np.ndarray:
    """Return the predicted-class counts ``(n_epochs_in_block, n_classes)``."""
    predictions = outputs.predictions
    n_epochs, n_classes = predictions.shape[0], outputs.n_classes
    offsets = np.arange(n_epochs)[:, None] * n_classes
    counts = np.bincount(
        (predictions + offsets).ravel(), minlength=n_epochs * n_classes
    )
    return counts.reshape(n_epochs, n_classes)


def _cosine_sums(out: dict[int, Outputs], pairs: np.ndarray) -> np.ndarray:
    """Sum the per-sample cosines of each pair with one Gram matrix per epoch.

    With each row scaled to unit norm, the sum over samples of the row-wise
    dot products is the dot product of the flattened blocks, so a batched
    matrix product serves all pairs at once.
    """
    order = list(out)
    position = {k: n for n, k in enumerate(order)}
    n_epochs = out[order[0]].probs.shape[0]
    units = np.stack(
        [kernels.unit_rows(out[k].probs).reshape(n_epochs, -1) for k in order], axis=1
    )
    gram = units @ units.transpose(0, 2, 1)  # (n_epochs, n_models, n_models)
    rows = [position[i] for i in pairs[:, 0]]
    cols = [position[j] for j in pairs[:, 1]]
    return gram[:, rows, cols]
