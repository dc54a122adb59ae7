"""Linear centred kernel alignment (CKA) of two models' features.

After Kornblith et al. (2019), "Similarity of Neural Network
Representations Revisited": for features ``X`` ``(n_samples, n_features_a)``
and ``Y`` ``(n_samples, n_features_b)`` of the same samples, with centred
columns,

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F),

in [0, 1], 1 for identical features and invariant to rotations and to
isotropic scaling of either. The features are streamed in batches and the
centred cross-products accumulated in float64 with the pairwise update of
Chan, Golub and LeVeque (1979), so batches of any size give the same value as
one pass over all samples.
"""

from __future__ import annotations

import numpy as np

from funcsim_lib.measures._validation import warn_undefined


def _check_features(name: str, features: object) -> np.ndarray:
    array = np.asarray(features)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array, got dtype {array.dtype}"
        )
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape (n_samples >= 1, n_features >= 1), "
            f"got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return array.astype(np.float64, copy=False)


class CKAAccumulator:
    """Linear CKA of two feature streams, fed one batch of samples at a time.

    Memory is ``(n_features_a + n_features_b) ** 2`` float64 numbers, whatever
    the number of samples, so it suits pooled features or a class token, not
    every token of a layer flattened.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(100, 5))
    >>> accumulator = CKAAccumulator()
    >>> for batch in np.split(x, 4):
    ...     accumulator.update(batch, 2.0 * batch)
    >>> round(accumulator.result(), 12)
    1.0
    """

    def __init__(self) -> None:
        self.n_samples = 0
        self._mean_a: np.ndarray | None = None
        self._mean_b: np.ndarray | None = None
        self._aa: np.ndarray | None = None
        self._bb: np.ndarray | None = None
        self._ab: np.ndarray | None = None

    def update(self, features_a: np.ndarray, features_b: np.ndarray) -> None:
        """Add a batch: ``(n_batch, n_features_a)`` and ``(n_batch, n_features_b)``."""
        a = _check_features("features_a", features_a)
        b = _check_features("features_b", features_b)
        if a.shape[0] != b.shape[0]:
            raise ValueError(
                "features_a and features_b must have the same number of samples, "
                f"got {a.shape} and {b.shape}"
            )
        if self._aa is not None and (
            a.shape[1] != self._aa.shape[0] or b.shape[1] != self._bb.shape[0]
        ):
            raise ValueError(
                "every batch must have the same number of features, got "
                f"{a.shape[1]} and {b.shape[1]} after "
                f"{self._aa.shape[0]} and {self._bb.shape[0]}"
            )
        n_batch = a.shape[0]
        mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
        centred_a, centred_b = a - mean_a, b - mean_b
        aa, bb, ab = (
            centred_a.T @ centred_a,
            centred_b.T @ centred_b,
            centred_a.T @ centred_b,
        )
        if self._aa is None:
            self.n_samples = n_batch
            self._mean_a, self._mean_b = mean_a, mean_b
            self._aa, self._bb, self._ab = aa, bb, ab
            return
        n_total = self.n_samples + n_batch
        weight = self.n_samples * n_batch / n_total
        delta_a, delta_b = mean_a - self._mean_a, mean_b - self._mean_b
        self._aa += aa + weight * np.outer(delta_a, delta_a)
        self._bb += bb + weight * np.outer(delta_b, delta_b)
        self._ab += ab + weight * np.outer(delta_a, delta_b)
        self._mean_a += delta_a * (n_batch / n_total)
        self._mean_b += delta_b * (n_batch / n_total)
        self.n_samples = n_total

    def result(self) -> float:
        """Return the linear CKA so far; NaN if a stream has no variance."""
        if self._aa is None:
            raise ValueError("no batch was added: call update() first")
        norm_a = np.linalg.norm(self._aa)
        norm_b = np.linalg.norm(self._bb)
        if norm_a == 0 or norm_b == 0:
            warn_undefined("linear_cka", "a feature matrix is constant", 1, 1)
            return float("nan")
        value = np.linalg.norm(self._ab) ** 2 / (norm_a * norm_b)
        return float(np.clip(value, 0.0, 1.0))


def linear_cka(
    features_a: np.ndarray, features_b: np.ndarray, *, chunk_size: int | None = None
) -> float:
    """Return the linear CKA of two feature matrices of the same samples.

    Parameters
    ----------
    features_a, features_b
        ``(n_samples, n_features_a)`` and ``(n_samples, n_features_b)``; the
        numbers of features may differ.
    chunk_size
        Samples per batch of the accumulation; None: all at once. The value
        does not depend on it beyond rounding.

    It is NaN, with an ``UndefinedMeasureWarning``, where either matrix is
    constant over the samples.

    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    >>> round(linear_cka(x, x @ np.array([[0.0, 1.0], [-1.0, 0.0]])), 12)
    1.0
    """
    a = _check_features("features_a", features_a)
    b = _check_features("features_b", features_b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            "features_a and features_b must have the same number of samples, "
            f"got {a.shape} and {b.shape}"
        )
    step = a.shape[0] if chunk_size is None else int(chunk_size)
    if step < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    accumulator = CKAAccumulator()
    for start in range(0, a.shape[0], step):
        accumulator.update(a[start : start + step], b[start : start + step])
    return accumulator.result()
