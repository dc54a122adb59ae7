"""Kernels on prepared, class-major outputs: ``(..., n_classes, n_samples)`` in.

Both the single-pair functions and the all-pairs engine call these, so a
measure has one formula wherever it is computed. They take float64 torch
tensors: torch's vectorised ``log`` and ``exp`` are several times faster than
NumPy's on the CPUs this project is built on, and the logarithm of the JS
divergence is most of the cost of the output measures.
"""

from __future__ import annotations

import math

import torch

from funcsim_lib.measures.outputs import Outputs, flat_dot

LN2 = math.log(2.0)

# Samples whose JS divergence may lie below this are computed term by term.
# The entropy form's error is a few float64 rounding steps of the entropies,
# estimated at about 1e-14 nats for ten classes, so every sample above the
# threshold keeps a relative error below 1e-9 (a property test checks this).
JSD_EXACT_BELOW = 1e-5


def l2_rows(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Return the Euclidean distance between ``p`` and ``q`` per sample."""
    return (p - q).square_().sum(dim=-2).sqrt_()


def unit_rows(p: torch.Tensor) -> torch.Tensor:
    """Return ``p`` scaled to unit Euclidean norm per sample (no sample is 0)."""
    return p / p.square().sum(dim=-2, keepdim=True).sqrt_()


class Workspace:
    """Scratch buffers reused between calls, viewed in any shape by ``get``."""

    def __init__(self, n_entries: int) -> None:
        self.buffers = [torch.empty(n_entries, dtype=torch.float64) for _ in range(2)]

    def get(self, k: int, shape: torch.Size) -> torch.Tensor:
        needed = math.prod(shape)
        if needed > self.buffers[k].numel():
            self.buffers[k] = torch.empty(needed, dtype=torch.float64)
        return self.buffers[k][:needed].view(shape)


def churn_vectors(outputs: Outputs, alpha: float) -> torch.Tensor:
    """Return ``(p / max_c p) ** alpha`` per sample."""
    if alpha == 1.0:
        return outputs.relative
    return outputs.relative.pow(alpha)


def churn_rows(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Return half the L1 distance between churn vectors per sample."""
    return (v - w).abs_().sum(dim=-2).mul_(0.5)


def js_divergence_sums(
    a: Outputs,
    b: Outputs,
    distance: torch.Tensor,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """Return the Jensen-Shannon divergence in nats summed over samples, ``(...)``.

    ``a`` and ``b`` broadcast against each other. ``distance`` is
    ``l2_rows(a.probs, b.probs)``, and ``workspace`` saves allocations
    between calls. With ``s = p + q`` (twice the mixture), per sample

        JSD = (sum_c p log p + sum_c q log q - sum_c s log s) / 2 + ln 2,

    where the first two sums are each model's negative entropy, computed once
    per model, so a pair costs one logarithm per entry. This form subtracts
    entropies, which cancel for near-identical samples. Those are found from
    the distance: Pinsker's inequality for each half, ``KL(p || m) >=
    |p - m|_1^2 / 2 = |p - q|_1^2 / 8``, bounds the JS divergence below by
    ``|p - q|_1^2 / 8 >= distance**2 / 8``. Samples with ``distance**2 / 8``
    below ``JSD_EXACT_BELOW`` are recomputed by ``js_divergence_terms``,
    whose terms are each non-negative; the others keep the entropy form.
    """
    shape = torch.broadcast_shapes(a.probs.shape, b.probs.shape)
    if workspace is None:
        workspace = Workspace(0)
    s = torch.add(a.floored_probs, b.floored_probs, out=workspace.get(0, shape))
    log_s = torch.log(s, out=workspace.get(1, shape))
    close = distance.square() < 8.0 * JSD_EXACT_BELOW
    if not bool(close.any()):
        cross = flat_dot(log_s, s)  # s log s summed over classes and samples
        n_samples = distance.shape[-1]
        return (a.neg_entropy_total + b.neg_entropy_total - cross) / 2 + n_samples * LN2
    cross = log_s.mul_(s).sum(dim=-2)
    per_sample = (a.neg_entropy + b.neg_entropy - cross) / 2 + LN2
    per_sample.clamp_(0.0, LN2)
    per_sample[close] = js_divergence_terms(
        a.rows("log_probs", shape, close),
        a.rows("probs", shape, close),
        b.rows("log_probs", shape, close),
        b.rows("probs", shape, close),
    )
    return per_sample.sum(dim=-1)


def js_divergence_terms(
    log_p: torch.Tensor, p: torch.Tensor, log_q: torch.Tensor, q: torch.Tensor
) -> torch.Tensor:
    """Return the JS divergence of rows ``(..., n_classes)`` as sums of
    non-negative terms, in nats, in [0, ln 2].

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
    # Classes where both probabilities are 0 contribute 0; a denominator of 1
    # there gives u = 0 instead of 0/0.
    u = (p - q).div_(total + (total == 0))
    d = log_p - log_q
    z = u * u
    small = z <= 0.5
    rho = (1.0 - u.abs()).div_(1.0 + u.abs())  # (1 - |u|) / (1 + |u|)
    log1p_z = torch.where(small, -z, rho).log1p_()
    # u d + log(1 - u^2) rewritten with |u| = (1 - rho) / (1 + rho) and
    # log(rho) = -|d|, so that rho = 0 leaves 2 ln 2 instead of inf - inf:
    # 2 (ln 2 - log1p(rho) - rho |d| / (1 + rho)).
    large = (d.abs() * rho).div_(1.0 + rho).add_(log1p_z).neg_().add_(LN2).mul_(2.0)
    bracket = torch.where(small, u.mul_(d).add_(log1p_z), large)
    return (0.25 * (total * bracket).sum(dim=-1)).clamp_(0.0, LN2)
