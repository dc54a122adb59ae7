"""Per-sample kernels on prepared outputs: ``(..., n_classes)`` in, ``(...)`` out.

Both the single-pair functions and the all-pairs engine call these, so a
measure has one formula wherever it is computed.
"""

from __future__ import annotations

import math

import numpy as np

LN2 = math.log(2.0)


def js_divergence_rows(
    log_p: np.ndarray, p: np.ndarray, log_q: np.ndarray, q: np.ndarray
) -> np.ndarray:
    """Return the Jensen-Shannon divergence of each row, in nats, in [0, ln 2].

    With the mixture ``m = (p + q) / 2`` and ``u = (p - q) / (p + q)`` per
    class, ``p = m (1 + u)`` and ``q = m (1 - u)``, so

        JSD = sum_c m_c B(u_c) / 2,  B(u) = u d + log(1 - u^2),

    where ``d = log p - log q = 2 atanh(u)`` comes from the log-probabilities.
    Each class adds ``m B >= 0``, so no terms cancel across classes, unlike
    ``H(m) - (H(p) + H(q)) / 2``. ``log(1 - u^2)`` is evaluated as
    ``log1p(-u^2)`` while ``u^2 <= 1/2`` (accurate for near-identical rows), and
    otherwise as ``2 ln 2 + log(rho) - 2 log1p(rho)`` with
    ``rho = min(p, q) / max(p, q)``, which stays finite where one probability
    underflows to 0. Both branches share one ``log1p`` call.
    """
    total = p + q  # 2 m
    # In-place operations keep the temporaries to four block-sized buffers.
    # Classes where both probabilities are 0 contribute 0; a denominator of 1
    # there gives u = 0 instead of 0/0.
    u = p - q
    u /= total + (total == 0)
    d = log_p - log_q
    z = u * u
    small = z <= 0.5
    rho = np.abs(u)
    np.subtract(1.0, rho, out=rho)
    rho /= 2.0 - rho  # (1 - |u|) / (1 + |u|)
    np.negative(z, out=z)
    np.copyto(z, rho, where=~small)
    log1p_z = np.log1p(z, out=z)
    # u d + log(1 - u^2) rewritten with |u| = (1 - rho) / (1 + rho) and
    # log(rho) = -|d|, so that rho = 0 leaves 2 ln 2 instead of inf - inf:
    # 2 (ln 2 - log1p(rho) - rho |d| / (1 + rho)).
    bracket = np.abs(d)
    bracket *= rho
    bracket /= 1.0 + rho
    bracket += log1p_z
    np.subtract(LN2, bracket, out=bracket)
    bracket *= 2.0
    u *= d
    u += log1p_z  # the small branch: u d + log1p(-u^2)
    np.copyto(bracket, u, where=small)
    return 0.25 * np.einsum("...c,...c->...", total, bracket)


def l2_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Return the Euclidean distance between the rows of ``p`` and ``q``."""
    diff = p - q
    return np.sqrt(np.einsum("...c,...c->...", diff, diff))


def unit_rows(p: np.ndarray) -> np.ndarray:
    """Return the rows of ``p`` scaled to unit Euclidean norm (rows are not 0)."""
    return p / np.sqrt(np.einsum("...c,...c->...", p, p))[..., None]


def cosine_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Return the cosine of the angle between the rows of ``p`` and ``q``."""
    return np.einsum("...c,...c->...", unit_rows(p), unit_rows(q))


def churn_vectors(log_probs: np.ndarray, alpha: float) -> np.ndarray:
    """Return ``(p / max_c p) ** alpha`` per row, from log-probabilities."""
    shifted = log_probs - log_probs.max(axis=-1, keepdims=True)
    return np.exp(alpha * shifted)


def churn_rows(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return half the L1 distance between rows of churn vectors."""
    return 0.5 * np.abs(v - w).sum(axis=-1)
