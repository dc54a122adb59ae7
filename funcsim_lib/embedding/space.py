"""Function-space embeddings of training trajectories (after Fort et al. 2019).

Each checkpoint of each run becomes one point: its softmax outputs on a fixed
subset of the test set, flattened. All points are embedded in one joint fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from funcsim_lib.measures import softmax


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


def subset_indices(n_test: int, n_inputs: int, seed: int) -> np.ndarray:
    """Return ``n_inputs`` sorted test-set indices drawn without replacement."""
    if not 1 <= n_inputs:
        raise ValueError(f"n_inputs must be at least 1, got {n_inputs}")
    n_inputs = min(n_inputs, n_test)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=n_inputs, replace=False))


def function_space(
    logits: np.ndarray, runs: tuple[str, ...], inputs: np.ndarray
) -> FunctionSpace:
    """Build the points from logits ``(n_runs, n_epochs + 1, n_test, n_classes)``."""
    if logits.ndim != 4 or logits.shape[0] != len(runs):
        raise ValueError(
            f"logits must have shape (n_runs={len(runs)}, n_epochs + 1, n_test, "
            f"n_classes), got {logits.shape}"
        )
    probs = softmax(logits[:, :, inputs, :])
    n_runs, n_checkpoints = probs.shape[:2]
    points = probs.reshape(n_runs * n_checkpoints, -1)
    return FunctionSpace(points, tuple(runs), n_checkpoints - 1, np.asarray(inputs))


@dataclass(frozen=True)
class Embedding:
    """Coordinates of every checkpoint, in the row order of ``FunctionSpace``."""

    coords: np.ndarray  # (n_points, n_components)
    method: str
    axis_labels: tuple[str, ...]
    info: dict


def embed_pca(space: FunctionSpace, n_components: int = 2, seed: int = 0) -> Embedding:
    """Embed the checkpoints with PCA; axis labels carry the explained variance."""
    pca = PCA(n_components=n_components, svd_solver="full", random_state=seed)
    coords = pca.fit_transform(space.points)
    ratios = pca.explained_variance_ratio_
    labels = tuple(f"PC{i + 1} ({100 * r:.1f} %)" for i, r in enumerate(ratios))
    return Embedding(
        coords, "PCA", labels, {"explained_variance_ratio": ratios.tolist()}
    )


def trajectories(embedding: Embedding, space: FunctionSpace) -> dict[str, np.ndarray]:
    """Split coordinates into one ``(n_epochs + 1, n_components)`` array per run."""
    per_run = embedding.coords.reshape(len(space.runs), space.n_epochs + 1, -1)
    return {run: per_run[i] for i, run in enumerate(space.runs)}
