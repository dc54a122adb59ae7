"""Model outputs prepared once: log-probabilities, probabilities, predictions.

Softmax is taken exactly once, in float64, through ``log_softmax``; every
measure reads the prepared arrays instead of exponentiating again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from funcsim_lib.measures._validation import check_outputs

# Stored for log 0 when a probability is given as exactly 0. Every kernel
# multiplies a log-probability by its probability, or by the ratio of the
# smaller to the larger probability, both exactly 0 there, so any value below
# log(5e-324) = -744.4 gives the same results; this one keeps them finite.
LOG_ZERO = -1e300


@dataclass(frozen=True)
class Outputs:
    """One or more models' outputs on the same samples, in float64.

    All arrays share the leading dimensions ``(..., n_samples)``.
    """

    log_probs: np.ndarray  # (..., n_samples, n_classes), LOG_ZERO for p = 0
    probs: np.ndarray  # (..., n_samples, n_classes)
    predictions: np.ndarray  # (..., n_samples) int64, the argmax class

    @property
    def n_classes(self) -> int:
        return self.probs.shape[-1]


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
    return from_logits(np.asarray(logits, dtype=np.float64)).probs


def from_logits(logits: np.ndarray) -> Outputs:
    """Prepare finite float logits without checking them (the engine's path).

    One exponential per entry serves both outputs: ``probs`` is ``exp(shifted)``
    divided by its row sum, and ``log_probs`` is ``shifted - log(row sum)``.
    """
    shifted = np.array(logits, dtype=np.float64)
    shifted -= shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    shifted -= np.log(total)
    # Only logits more than 1e300 apart reach this floor (-inf otherwise).
    np.maximum(shifted, LOG_ZERO, out=shifted)
    exp /= total
    return Outputs(shifted, exp, shifted.argmax(axis=-1))


def from_probabilities(probs: np.ndarray) -> Outputs:
    """Prepare rows that are already distributions, without checking them."""
    probs = np.array(probs, dtype=np.float64)
    log_probs = np.full_like(probs, LOG_ZERO)
    np.log(probs, out=log_probs, where=probs > 0)
    return Outputs(log_probs, probs, probs.argmax(axis=-1))


def prepare(values: object, name: str, inputs: str = "logits") -> Outputs:
    """Check ``values`` and prepare them; ``inputs`` is "logits" or "probabilities"."""
    array = check_outputs(name, values, inputs)
    if inputs == "probabilities":
        return from_probabilities(array)
    return from_logits(array)
