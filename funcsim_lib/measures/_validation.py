"""Input checks shared by the measures, and the policy for undefined values.

Every check raises ``ValueError`` (``TypeError`` for a wrong dtype) whose
message names the argument, what was expected and what was received.
"""

from __future__ import annotations

import warnings

import numpy as np

# Rows given as probabilities may be off 1 by this much, to admit float32
# softmax outputs (whose row sums deviate by a few 1e-7 for ten classes).
PROBABILITY_SUM_TOLERANCE = 1e-5


class UndefinedMeasureWarning(RuntimeWarning):
    """A measure was 0/0 on its input and was returned as NaN."""


def warn_undefined(measure: str, reason: str, count: int, total: int) -> None:
    """Emit one warning for ``count`` of ``total`` values that are NaN."""
    if count:
        warnings.warn(
            f"{measure} is undefined for {count} of {total} values ({reason}); "
            "they are NaN",
            UndefinedMeasureWarning,
            stacklevel=3,
        )


def check_inputs_kind(inputs: str) -> None:
    if inputs not in ("logits", "probabilities"):
        raise ValueError(f"inputs must be 'logits' or 'probabilities', got {inputs!r}")


def check_outputs(name: str, values: object, inputs: str = "logits") -> np.ndarray:
    """Return ``values`` as an array ``(..., n_samples, n_classes)`` after checks.

    ``inputs`` is ``"logits"`` (any finite real numbers) or ``"probabilities"``
    (entries in [0, 1], rows summing to 1 within ``PROBABILITY_SUM_TOLERANCE``).
    """
    array = check_outputs_shape(name, values, inputs)
    check_output_values(name, array, inputs)
    return array


def check_outputs_shape(name: str, values: object, inputs: str) -> np.ndarray:
    """Check the dtype and shape of ``values``, not the values themselves."""
    check_inputs_kind(inputs)
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array of {inputs}, "
            f"got dtype {array.dtype}"
        )
    if array.ndim < 2 or array.shape[-1] < 2 or array.shape[-2] < 1:
        raise ValueError(
            f"{name} must have shape (..., n_samples >= 1, n_classes >= 2), "
            f"got {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    return array


def check_output_values(
    name: str, array: np.ndarray, inputs: str, offset: tuple[int, ...] = ()
) -> None:
    """Check that ``array`` holds finite logits or rows that are distributions.

    ``offset`` is added to the leading indices of a reported position, for
    arrays that are blocks of a larger one.
    """
    finite = np.isfinite(array)
    if not finite.all():
        where = _first(~finite)
        raise ValueError(
            f"{name} must be finite, got {float(array[where])} at index "
            f"{_shift(where, offset)}"
        )
    if inputs != "probabilities":
        return
    outside = (array < 0) | (array > 1)
    if outside.any():
        where = _first(outside)
        raise ValueError(
            f"{name} must hold probabilities in [0, 1], got {float(array[where])} "
            f"at index {_shift(where, offset)}"
        )
    sums = array.sum(axis=-1, dtype=np.float64)
    off = np.abs(sums - 1.0) > PROBABILITY_SUM_TOLERANCE
    if off.any():
        where = _first(off)
        raise ValueError(
            f"{name} rows must sum to 1 within {PROBABILITY_SUM_TOLERANCE:g}, "
            f"but row {_shift(where, offset)} sums to {float(sums[where]):.9g}"
        )


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _shift(index: tuple[int, ...], offset: tuple[int, ...]) -> tuple[int, ...]:
    padded = tuple(offset) + (0,) * (len(index) - len(offset))
    return tuple(i + o for i, o in zip(index, padded))


def check_same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {a.shape} and {b.shape}"
        )


def check_labels(
    name: str, labels: object, n_samples: int, n_classes: int
) -> np.ndarray:
    """Return ``labels`` as int64 ``(n_samples,)`` with values in ``[0, n_classes)``."""
    if labels is None:
        raise ValueError(
            f"{name} is required by this measure: the true class of each of "
            f"the {n_samples} samples"
        )
    array = np.asarray(labels)
    if not (np.issubdtype(array.dtype, np.integer) and array.dtype != bool):
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype}")
    if array.shape != (n_samples,):
        raise ValueError(
            f"{name} must have shape (n_samples,) = ({n_samples},), got {array.shape}"
        )
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(
            f"{name} must be class indices in [0, {n_classes}), got values "
            f"from {array.min()} to {array.max()}"
        )
    return array.astype(np.int64, copy=False)


def check_positive(name: str, value: float) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)
