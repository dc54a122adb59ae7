"""Summaries over pairs of models: values, spread and intervals of the mean.

The measure of a condition at an epoch is the mean over the distinct pairs of
its runs. Pairs that share a run are not independent, so the default
interval resamples runs, not pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

METHODS = ("bootstrap-runs", "t-pairs")


@dataclass(frozen=True)
class Interval:
    """An estimate per epoch with a confidence interval around it."""

    estimate: np.ndarray  # (n_epochs,)
    low: np.ndarray  # (n_epochs,)
    high: np.ndarray  # (n_epochs,)
    method: str  # "bootstrap-runs" or "t-pairs"
    confidence: float  # e.g. 0.95


def pair_values(matrices: np.ndarray) -> np.ndarray:
    """Return the values of the pairs of distinct models, ``(n_epochs, n_pairs)``.

    ``matrices`` is ``(n_epochs, n_models, n_models)``, as from ``pairwise``.
    Where it is symmetric, each pair counts once (i < j). Where it is not (an
    asymmetric measure: entry ``[e, i, j]`` is model i against reference j),
    both orders count, so that the mean does not depend on the order of the
    models and equals the centre of ``pair_mean_interval``'s bootstrap.

    >>> m = np.array([[[0.0, 1.0], [3.0, 0.0]]])
    >>> pair_values(m).tolist()
    [[1.0, 3.0]]
    """
    matrices = _check_matrices("matrices", matrices)
    n_models = matrices.shape[-1]
    if np.array_equal(matrices, matrices.transpose(0, 2, 1), equal_nan=True):
        rows, cols = np.triu_indices(n_models, k=1)
    else:
        rows, cols = np.nonzero(~np.eye(n_models, dtype=bool))
    return matrices[:, rows, cols]


def spread(
    values: np.ndarray, axis: int = -1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the mean, minimum and maximum of ``values`` along ``axis``."""
    values = np.asarray(values)
    return values.mean(axis), values.min(axis), values.max(axis)


def _check_matrices(name: str, matrices: object) -> np.ndarray:
    array = np.asarray(matrices, dtype=np.float64)
    if array.ndim != 3 or array.shape[1] != array.shape[2] or array.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (n_epochs, n_models, n_models) with "
            f"n_models >= 2, got {array.shape}"
        )
    return array


def check_interval_settings(
    confidence: float, n_resamples: int, seed: int, method: str = METHODS[0]
) -> None:
    """Raise ``ValueError`` for settings that ``pair_mean_interval`` rejects."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples must be at least 100, got {n_resamples}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def _bootstrap_means(
    matrices: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Return the pair mean of resampled runs, ``(n_kept, n_epochs)``.

    A run drawn ``w`` times enters the mean with weight ``w`` in each of its
    pairs with other runs, never paired with itself. Resamples that draw one
    run only have no pair and are dropped.
    """
    n_models = matrices.shape[-1]
    off_diagonal = matrices * (1 - np.eye(n_models))
    counts = rng.multinomial(n_models, np.full(n_models, 1 / n_models), n_resamples)
    weight = n_models**2 - (counts**2).sum(axis=1)
    kept = counts[weight > 0].astype(np.float64)
    sums = np.einsum("bi,eij,bj->be", kept, off_diagonal, kept)
    return sums / weight[weight > 0, None]


def _t_parts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the mean, the squared standard error and the count of ``values``."""
    n = values.shape[-1]
    variance = values.var(axis=-1, ddof=1) if n > 1 else np.full(len(values), np.nan)
    return values.mean(axis=-1), variance / n, n


def pair_mean_interval(
    matrices: np.ndarray,
    *,
    method: str = "bootstrap-runs",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Return the mean over distinct pairs per epoch, with an interval.

    Parameters
    ----------
    matrices
        ``(n_epochs, n_models, n_models)``, as from ``pairwise``.
    method
        "bootstrap-runs": percentile interval of the pair mean over resamples
        of the runs with replacement. "t-pairs": Student's t over the pairs,
        which treats pairs that share a run as independent and so gives too
        narrow an interval.
    confidence
        Coverage of the interval.
    n_resamples, seed
        Bootstrap resamples and the seed of their generator.

    >>> m = np.array([[[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]]])
    >>> summary = pair_mean_interval(m)
    >>> float(summary.estimate[0])
    2.0
    >>> bool(summary.low[0] <= 2.0 <= summary.high[0])
    True
    """
    matrices = _check_matrices("matrices", matrices)
    check_interval_settings(confidence, n_resamples, seed, method)
    estimate = pair_values(matrices).mean(axis=-1)
    if method == "t-pairs":
        mean, se2, n = _t_parts(pair_values(matrices))
        half = scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * np.sqrt(se2)
        return Interval(mean, mean - half, mean + half, method, confidence)
    rng = np.random.default_rng(seed)
    means = _bootstrap_means(matrices, n_resamples, rng)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    return Interval(estimate, low, high, method, confidence)


def pair_mean_difference(
    matrices_a: np.ndarray,
    matrices_b: np.ndarray,
    *,
    method: str = "bootstrap-runs",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Return the pair mean of group A minus that of group B, with an interval.

    The runs of the two groups are resampled independently ("bootstrap-runs"),
    or the pairs are compared with Welch's t ("t-pairs"). Both treat the
    groups as independent.

    >>> a = np.full((1, 3, 3), 2.0)
    >>> b = np.full((1, 3, 3), 0.5)
    >>> d = pair_mean_difference(a, b)
    >>> float(d.estimate[0]), float(d.low[0]), float(d.high[0])
    (1.5, 1.5, 1.5)
    """
    matrices_a = _check_matrices("matrices_a", matrices_a)
    matrices_b = _check_matrices("matrices_b", matrices_b)
    if matrices_a.shape[0] != matrices_b.shape[0]:
        raise ValueError(
            "matrices_a and matrices_b must have the same number of epochs, "
            f"got {matrices_a.shape} and {matrices_b.shape}"
        )
    check_interval_settings(confidence, n_resamples, seed, method)
    estimate = pair_values(matrices_a).mean(axis=-1) - pair_values(matrices_b).mean(
        axis=-1
    )
    if method == "t-pairs":
        mean_a, se2_a, n_a = _t_parts(pair_values(matrices_a))
        mean_b, se2_b, n_b = _t_parts(pair_values(matrices_b))
        se2 = se2_a + se2_b
        with np.errstate(invalid="ignore", divide="ignore"):
            df = se2**2 / (se2_a**2 / (n_a - 1) + se2_b**2 / (n_b - 1))
        half = scipy_stats.t.ppf((1 + confidence) / 2, df) * np.sqrt(se2)
        return Interval(estimate, estimate - half, estimate + half, method, confidence)
    rng = np.random.default_rng(seed)
    means_a = _bootstrap_means(matrices_a, n_resamples, rng)
    means_b = _bootstrap_means(matrices_b, n_resamples, rng)
    n = min(len(means_a), len(means_b))
    differences = means_a[:n] - means_b[:n]
    quantiles = [(1 - confidence) / 2, (1 + confidence) / 2]
    low, high = np.quantile(differences, quantiles, axis=0)
    return Interval(estimate, low, high, method, confidence)


def interval_sign(interval: Interval) -> np.ndarray:
    """Return +1 where the interval lies above 0, -1 below, 0 where it covers 0."""
    return np.where(interval.low > 0, 1, np.where(interval.high < 0, -1, 0))


def similarity_margin(
    matrices_a: np.ndarray,
    matrices_b: np.ndarray,
    kind: str,
    **interval_options: object,
) -> Interval:
    """Return how much more similar the pairs of group B are than those of A.

    In the measure's units: A's pair mean minus B's for a ``kind`` of
    "distance", B's minus A's for a "similarity", so a positive margin always
    means that B's models are closer to each other. ``interval_options`` as
    for ``pair_mean_difference``.

    >>> a = np.full((1, 3, 3), 0.3)
    >>> b = np.full((1, 3, 3), 0.1)
    >>> round(float(similarity_margin(a, b, "distance").estimate[0]), 12)
    0.2
    >>> round(float(similarity_margin(a, b, "similarity").estimate[0]), 12)
    -0.2
    """
    if kind == "distance":
        return pair_mean_difference(matrices_a, matrices_b, **interval_options)
    if kind == "similarity":
        return pair_mean_difference(matrices_b, matrices_a, **interval_options)
    raise ValueError(f"kind must be 'distance' or 'similarity', got {kind!r}")
