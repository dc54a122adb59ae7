"""Model outputs prepared once: log-probabilities, probabilities, predictions.

The engine computes the softmax once per block, in float64, from the logits
shifted by their row maximum. Every measure reads the prepared tensors
instead of exponentiating again.

The engine keeps the class axis before the sample axis ("class-major",
``(..., n_classes, n_samples)``): a sum over classes then adds ``n_classes``
contiguous vectors, several times faster in torch than reducing ten
contiguous numbers per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np
import torch

# Stored for log 0 when a probability is given as exactly 0. Every kernel
# multiplies a log-probability by its probability, or by the ratio of the
# smaller to the larger probability, both exactly 0 there, so any value below
# log(5e-324) = -744.4 gives the same results; this one keeps them finite.
LOG_ZERO = -1e300

# The smallest normal float64. Probabilities are raised to it before the
# logarithm of the JS divergence's mixture, so that a class where both models
# give 0 adds 0 * log(tiny) ~ -1e-305 instead of 0 * log 0 = NaN.
FLOOR = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class Outputs:
    """One or more models' outputs on the same samples, as float64 tensors.

    Tensors are class-major: ``(..., n_classes, n_samples)``; ``predictions``
    is ``(..., n_samples)``.
    """

    log_probs: torch.Tensor  # LOG_ZERO for p = 0
    probs: torch.Tensor
    relative: torch.Tensor  # p / max_c p, per sample
    predictions: torch.Tensor  # int64, the argmax class (the first, on ties)

    @property
    def n_classes(self) -> int:
        return self.probs.shape[-2]

    @cached_property
    def floored_probs(self) -> torch.Tensor:
        """``probs`` raised to ``FLOOR`` where they are smaller."""
        return self.probs.clamp(min=FLOOR)

    @cached_property
    def neg_entropy(self) -> torch.Tensor:
        """``sum_c p_c log p_c`` per sample, ``(..., n_samples)``."""
        return (self.probs * self.log_probs).sum(dim=-2)

    @cached_property
    def neg_entropy_total(self) -> torch.Tensor:
        """``neg_entropy`` summed over samples, ``(...)``, as one dot product."""
        return flat_dot(self.probs, self.log_probs)

    def prepare_entropy_terms(self) -> None:
        """Compute what the JS divergence reads, once for every model."""
        _ = self.floored_probs, self.neg_entropy_total

    def take(self, index: int | slice | torch.Tensor) -> Outputs:
        """Return these outputs indexed along the first axis, cached values too."""
        selected = Outputs(*(getattr(self, f.name)[index] for f in fields(self)))
        for name in _CACHED:
            if name in self.__dict__:
                selected.__dict__[name] = self.__dict__[name][index]
        return selected

    def rows(self, name: str, shape: torch.Size, where: torch.Tensor) -> torch.Tensor:
        """Return the samples that the mask ``where`` selects, ``(n, n_classes)``,
        from ``name`` broadcast to ``shape`` (``(..., n_classes, n_samples)``)."""
        return getattr(self, name).expand(shape).transpose(-1, -2)[where]


_CACHED = ("floored_probs", "neg_entropy", "neg_entropy_total")


def flat_dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Return the sum of ``x * y`` over the last two axes, ``(...)``.

    One BLAS dot product per leading index: faster than a multiplication and
    a sum, or than a batched matrix product, for these shapes.
    """
    lead = x.shape[:-2]
    rows_x = x.reshape(math.prod(lead), -1)
    rows_y = y.reshape(math.prod(lead), -1)
    dots = [torch.dot(a, b) for a, b in zip(rows_x, rows_y)]
    return torch.stack(dots).reshape(lead)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Return log-probabilities from logits along the last axis, in float64.

    >>> np.round(log_softmax(np.array([0.0, np.log(3.0)])), 4)
    array([-1.3863, -0.2877])
    """
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return probabilities from logits along the last axis, in float64.

    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    shifted = np.asarray(logits, dtype=np.float64)
    exp = np.exp(shifted - shifted.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _class_major(values: np.ndarray) -> torch.Tensor:
    """Copy ``(..., n_samples, n_classes)`` of any float dtype (memory-mapped,
    read-only, float16) into a float64 tensor ``(..., n_classes, n_samples)``."""
    swapped = np.swapaxes(np.asarray(values), -1, -2)
    # Always a copy: the prepared tensors are changed in place.
    return torch.from_numpy(np.array(swapped, dtype=np.float64, order="C"))


def _predictions(values: np.ndarray) -> torch.Tensor:
    # The argmax of the logits is the argmax of the probabilities. It is
    # fastest along the contiguous class axis, before the transposition.
    return torch.from_numpy(np.asarray(values).argmax(axis=-1).astype(np.int64))


def from_logits(logits: np.ndarray) -> Outputs:
    """Prepare finite float logits ``(..., n_samples, n_classes)`` unchecked.

    One exponential per entry serves every output: with ``shifted`` the
    logits minus their row maximum, ``relative = exp(shifted)``, ``probs`` is
    ``relative`` over its sum and ``log_probs`` is ``shifted`` minus the log of
    that sum.
    """
    shifted = _class_major(logits)
    shifted -= shifted.amax(dim=-2, keepdim=True)
    relative = shifted.exp()
    total = relative.sum(dim=-2, keepdim=True)
    probs = relative / total
    # Only logits more than 1e300 apart reach this floor (-inf otherwise).
    log_probs = shifted.sub_(total.log_()).clamp_(min=LOG_ZERO)
    return Outputs(log_probs, probs, relative, _predictions(logits))


def from_probabilities(probs: np.ndarray) -> Outputs:
    """Prepare distributions ``(..., n_samples, n_classes)``, unchecked."""
    p = _class_major(probs)
    log_probs = torch.where(p > 0, p.log(), LOG_ZERO)
    relative = p / p.amax(dim=-2, keepdim=True)
    return Outputs(log_probs, p, relative, _predictions(probs))
