"""Checkpoints as points in function space, and their joint principal components.

Each checkpoint of each run becomes one point: its softmax outputs on a fixed
subset of the test set, flattened. ``reduce`` computes the principal components
of all points once. PCA reads its coordinates from there, and t-SNE, MDS and
the spectral embedding take the leading components as input, which keeps the
distances between checkpoints while cutting the cost of every later distance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from funcsim_lib.config import EmbeddingConfig
from funcsim_lib.measures import softmax

log = logging.getLogger(__name__)

# Leading principal components whose sign follows scikit-learn's PCA; the
# embeddings use at most 3, and the sign of the others changes no distance.
SIGNED = 3


@dataclass(frozen=True)
class FunctionSpace:
    """Checkpoint outputs, one row per checkpoint.

    Rows are ordered run by run, and within a run by epoch 0..n_epochs, so row
    ``r * (n_epochs + 1) + e`` is epoch ``e`` of run ``r``.
    """

    points: np.ndarray  # (n_runs * (n_epochs + 1), n_inputs * n_classes)
    runs: tuple[str, ...]
    n_epochs: int  # number of training epochs; each run has n_epochs + 1 points
    inputs: np.ndarray  # (n_inputs,) indices into the test set

    @property
    def n_checkpoints(self) -> int:
        """Number of points per run, epoch 0 included."""
        return self.n_epochs + 1

    def row(self, run: str, epoch: int) -> int:
        """Return the row of ``run`` after ``epoch`` (0: the initialisation)."""
        if run not in self.runs:
            raise ValueError(f"unknown run {run!r}; expected one of {self.runs}")
        if not 0 <= epoch <= self.n_epochs:
            raise ValueError(f"epoch must be in [0, {self.n_epochs}], got {epoch}")
        return self.runs.index(run) * self.n_checkpoints + epoch

    def per_run(self, values: np.ndarray) -> np.ndarray:
        """Reshape row-wise ``values`` to ``(n_runs, n_epochs + 1, ...)``."""
        if values.shape[0] != len(self.points):
            raise ValueError(
                f"values must have one row per point ({len(self.points)}), "
                f"got shape {values.shape}"
            )
        return values.reshape(len(self.runs), self.n_checkpoints, *values.shape[1:])


def subset_indices(n_test: int, n_inputs: int, seed: int) -> np.ndarray:
    """Return sorted test-set indices, drawn without replacement.

    Draws ``min(n_inputs, n_test)`` of them, so a subset larger than the test
    set is the whole test set.
    """
    if not 1 <= n_inputs:
        raise ValueError(f"n_inputs must be at least 1, got {n_inputs}")
    n_inputs = min(n_inputs, n_test)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=n_inputs, replace=False))


def function_space(
    logits: np.ndarray, runs: Sequence[str], inputs: np.ndarray
) -> FunctionSpace:
    """Build the points from logits ``(n_runs, n_epochs + 1, n_test, n_classes)``.

    ``inputs`` selects the test images whose softmax outputs make up a point.
    """
    if logits.ndim != 4 or logits.shape[0] != len(runs):
        raise ValueError(
            f"logits must have shape (n_runs={len(runs)}, n_epochs + 1, n_test, "
            f"n_classes), got {logits.shape}"
        )
    probs = softmax(logits[:, :, inputs, :])
    n_runs, n_checkpoints = probs.shape[:2]
    points = probs.reshape(n_runs * n_checkpoints, -1)
    return FunctionSpace(points, tuple(runs), n_checkpoints - 1, np.asarray(inputs))


def from_study(study, config: EmbeddingConfig) -> FunctionSpace:
    """Build the points of every run of ``study``, in the study's run order.

    ``study`` is a ``funcsim_lib.study.Study``; the test subset is drawn with
    ``config.n_inputs`` and ``config.subset_seed``.
    """
    names = [run.name for run in study.runs]
    logits = study.logits_of(names)
    inputs = subset_indices(logits.shape[2], config.n_inputs, config.subset_seed)
    return function_space(logits, names, inputs)


@dataclass(frozen=True)
class ReducedSpace:
    """The principal components of every point, and which points are distinct.

    ``scores`` contains every principal component with non-zero variance, so the
    distances between its rows equal those between the points up to rounding.
    The non-linear methods read the first ``n_kept`` columns of the rows in
    ``distinct``. Identical checkpoints, such as ``replica`` and ``base`` on a
    CPU, are embedded once, so they get identical coordinates.
    """

    space: FunctionSpace
    scores: np.ndarray  # (n_points, n_scores) principal-component scores
    explained_variance_ratio: np.ndarray  # (n_scores,)
    n_kept: int  # leading components the non-linear methods read
    distinct: np.ndarray  # (n_distinct,) first row of each distinct point
    inverse: np.ndarray  # (n_points,) index into ``distinct`` of every row

    @property
    def retained_variance(self) -> float:
        """Share of the points' variance in the ``n_kept`` leading components."""
        return float(self.explained_variance_ratio[: self.n_kept].sum())

    def inputs_for_methods(self) -> np.ndarray:
        """Return the ``(n_distinct, n_kept)`` input of the non-linear methods."""
        return self.scores[self.distinct, : self.n_kept]

    def expand(self, coords: np.ndarray) -> np.ndarray:
        """Map ``(n_distinct, n_components)`` coordinates back to every row."""
        return coords[self.inverse]


def distinct_rows(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the first row of each distinct point, in row order, and the map.

    Returns ``(distinct, inverse)`` with ``points[distinct[inverse]] == points``
    row for row, and ``distinct`` increasing.
    """
    _, first, inverse = np.unique(
        points, axis=0, return_index=True, return_inverse=True
    )
    order = np.argsort(first)
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    return first[order], position[inverse.reshape(-1)]


def principal_components(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return every point's scores on all principal components, and their shares.

    ``points`` is ``(n_points, n_features)``. The scores ``(n_points,
    n_components)`` and the explained variance ratios ``(n_components,)``
    equal those of ``sklearn.decomposition.PCA(svd_solver="full")`` up to
    rounding, with the same sign convention for the first ``SIGNED``
    components. The eigendecomposition of the smaller of the Gram matrix
    ``(n_points, n_points)`` and the covariance matrix ``(n_features,
    n_features)`` replaces the SVD, which took 3.4 times as long for 1,608
    points of 5,000 values (benchmarks/embedding.md).
    """
    centred = points - points.mean(axis=0)
    if len(points) <= points.shape[1]:
        eigenvalues, vectors = scipy.linalg.eigh(centred @ centred.T)
        eigenvalues = np.clip(eigenvalues[::-1], 0.0, None)
        scores = vectors[:, ::-1] * np.sqrt(eigenvalues)
        leading = min(SIGNED, len(eigenvalues))
        with np.errstate(divide="ignore", invalid="ignore"):
            components = (scores[:, :leading].T @ centred) / eigenvalues[:leading, None]
    else:
        eigenvalues, vectors = scipy.linalg.eigh(centred.T @ centred)
        eigenvalues = np.clip(eigenvalues[::-1], 0.0, None)
        vectors = vectors[:, ::-1]
        scores = centred @ vectors
        components = vectors[:, :SIGNED].T
    # scikit-learn makes the largest entry of each component positive.
    largest = np.abs(np.nan_to_num(components)).argmax(axis=1)
    signs = np.sign(components[np.arange(len(components)), largest])
    scores[:, : len(signs)] *= np.where(signs == 0, 1.0, signs)
    total = eigenvalues.sum()
    ratios = eigenvalues / total if total > 0 else np.zeros_like(eigenvalues)
    return scores, ratios


def reduce(space: FunctionSpace, config: EmbeddingConfig) -> ReducedSpace:
    """Compute the principal components of all points in one decomposition.

    The non-linear methods then read the fewest leading components whose
    explained variance reaches ``config.pca_variance`` (all of them when it is
    None). Their squared distances, summed over all pairs, keep that share of
    the squared distances between the points.
    """
    n_points, n_features = space.points.shape
    if n_points < 2:
        raise ValueError(f"space must have at least 2 points, got {n_points}")
    scores, ratios = principal_components(space.points)
    # Components past the rank of the centred points carry rounding noise only.
    n_scores = max(int(np.sum(ratios > 1e-12)), 1)
    scores, ratios = scores[:, :n_scores], ratios[:n_scores]
    if config.pca_variance is None:
        n_kept = n_scores
    else:
        reached = np.cumsum(ratios) >= config.pca_variance * ratios.sum() - 1e-12
        n_kept = int(np.argmax(reached)) + 1
    distinct, inverse = distinct_rows(space.points)
    log.info(
        "function space: %d points (%d distinct) of %d values; the first %d of %d "
        "principal components keep %.2f %% of the variance",
        n_points,
        len(distinct),
        n_features,
        n_kept,
        n_scores,
        100 * ratios[:n_kept].sum(),
    )
    return ReducedSpace(space, scores, ratios, n_kept, distinct, inverse)
