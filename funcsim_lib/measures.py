"""Functional similarity measures of model outputs.

Every function takes logits ``(..., n_samples, n_classes)`` and returns the
measure averaged over samples, with any leading dimensions kept. Softmax is
taken once, through ``log_softmax``, in float64.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(
            "logits_a and logits_b must have the same shape, "
            f"got {a.shape} and {b.shape}"
        )
    if a.ndim < 2 or a.shape[-1] < 2 or a.shape[-2] < 1:
        raise ValueError(
            f"logits must have shape (..., n_samples>=1, n_classes>=2), got {a.shape}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("logits must be finite, got NaN or inf")
    return a.astype(np.float64), b.astype(np.float64)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return probabilities from logits along the last axis, in float64."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64), axis=-1))


def disagreement(logits_a: np.ndarray, logits_b: np.ndarray) -> np.ndarray:
    """Return the share of samples whose predicted classes differ, in [0, 1].

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> b = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> float(disagreement(a, b))
    0.5
    """
    a, b = _check_pair(logits_a, logits_b)
    return (a.argmax(-1) != b.argmax(-1)).mean(-1)


def activation_distance(logits_a: np.ndarray, logits_b: np.ndarray) -> np.ndarray:
    """Return the mean over samples of the L2 distance between softmax outputs.

    The range is [0, sqrt(2)]. Klabunde et al. (2023) call half of this the
    norm of prediction difference.

    >>> round(float(activation_distance(np.zeros((1, 2)), np.array([[50.0, 0.0]]))), 4)
    0.7071
    """
    a, b = _check_pair(logits_a, logits_b)
    return np.linalg.norm(softmax(a) - softmax(b), axis=-1).mean(-1)


def cosine_similarity(logits_a: np.ndarray, logits_b: np.ndarray) -> np.ndarray:
    """Return the mean over samples of the cosine of the softmax outputs, in [0, 1]."""
    a, b = _check_pair(logits_a, logits_b)
    p, q = softmax(a), softmax(b)
    cos = (p * q).sum(-1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1))
    return np.clip(cos, 0.0, 1.0).mean(-1)


def js_divergence(logits_a: np.ndarray, logits_b: np.ndarray) -> np.ndarray:
    """Return the mean over samples of the Jensen-Shannon divergence, in nats.

    The mixture is formed in log space, so rows with probabilities that
    underflow to zero stay finite. The range is [0, ln 2].

    >>> float(js_divergence(np.zeros((1, 3)), np.zeros((1, 3))))
    0.0
    """
    a, b = _check_pair(logits_a, logits_b)
    log_p, log_q = log_softmax(a, axis=-1), log_softmax(b, axis=-1)
    # log of (p + q) / 2 around the larger term, so that p == q gives log_m ==
    # log_p exactly and a divergence of exactly 0.
    top = np.maximum(log_p, log_q)
    log_m = top + np.log(0.5 * (np.exp(log_p - top) + np.exp(log_q - top)))
    kl_pm = (np.exp(log_p) * (log_p - log_m)).sum(-1)
    kl_qm = (np.exp(log_q) * (log_q - log_m)).sum(-1)
    return np.clip(0.5 * (kl_pm + kl_qm), 0.0, np.log(2.0)).mean(-1)


def pairwise(measure, logits: np.ndarray) -> np.ndarray:
    """Return ``measure`` between every pair of models at every epoch.

    Parameters
    ----------
    measure
        One of the functions above.
    logits
        ``(n_models, n_epochs, n_samples, n_classes)``.

    Returns
    -------
    ``(n_epochs, n_models, n_models)``.
    """
    logits = np.asarray(logits)
    if logits.ndim != 4:
        raise ValueError(
            "logits must have shape (n_models, n_epochs, n_samples, n_classes), "
            f"got {logits.shape}"
        )
    n_models = logits.shape[0]
    out = np.zeros((logits.shape[1], n_models, n_models))
    for i in range(n_models):
        for j in range(n_models):
            out[:, i, j] = measure(logits[i], logits[j])
    return out


def cross_epochs(measure, logits_a: np.ndarray, logits_b: np.ndarray) -> np.ndarray:
    """Return ``measure`` between every epoch of model A and every epoch of B.

    ``logits_a`` is ``(n_epochs_a, n_samples, n_classes)`` and ``logits_b``
    ``(n_epochs_b, n_samples, n_classes)``; entry ``[i, j]`` of the result
    ``(n_epochs_a, n_epochs_b)`` compares epoch ``i`` of A with epoch ``j`` of B.
    """
    logits_a = np.asarray(logits_a)
    logits_b = np.asarray(logits_b)
    if logits_a.ndim != 3 or logits_a.shape[1:] != logits_b.shape[1:]:
        raise ValueError(
            "logits_a and logits_b must be (n_epochs, n_samples, n_classes) with "
            f"the same samples and classes, got {logits_a.shape} and {logits_b.shape}"
        )
    rows = [
        measure(np.broadcast_to(epoch, logits_b.shape), logits_b) for epoch in logits_a
    ]
    return np.stack(rows)


def against_reference(measure, logits: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return ``measure`` of each model against one reference model, per epoch.

    ``logits`` is ``(n_models, n_epochs, n_samples, n_classes)`` and
    ``reference`` is ``(n_epochs, n_samples, n_classes)``; the result is
    ``(n_models, n_epochs)``.
    """
    logits = np.asarray(logits)
    reference = np.asarray(reference)
    if logits.ndim != 4 or logits.shape[1:] != reference.shape:
        raise ValueError(
            "logits must be (n_models, *reference.shape); got "
            f"{logits.shape} and reference {reference.shape}"
        )
    return np.stack([measure(m, reference) for m in logits])


def pair_values(matrices: np.ndarray) -> np.ndarray:
    """Return the values of the distinct pairs i < j, ``(n_epochs, n_pairs)``.

    ``matrices`` is ``(n_epochs, n_models, n_models)``, as from ``pairwise``.
    """
    upper = np.triu_indices(matrices.shape[-1], k=1)
    return matrices[:, upper[0], upper[1]]


def spread(
    values: np.ndarray, axis: int = -1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the mean, minimum and maximum of ``values`` along ``axis``."""
    return values.mean(axis), values.min(axis), values.max(axis)
