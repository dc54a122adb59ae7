"""Measures of a set of models at once: ambiguity and discrepancy.

After Marx et al. (2020), "Predictive Multiplicity in Classification", who
measure both against a reference model, and Klabunde et al. (2023), who
define them over every pair of a set. ``reference=None`` gives the second
form, an index into the models the first.
"""

from __future__ import annotations

import numpy as np

from funcsim_lib.measures._validation import check_outputs


def _predictions(logits: object, inputs: str) -> np.ndarray:
    array = check_outputs("logits", logits, inputs)
    if array.ndim < 3 or array.shape[0] < 2:
        raise ValueError(
            "logits must have shape (n_models >= 2, ..., n_samples, n_classes), "
            f"got {array.shape}"
        )
    # The argmax of the logits is the argmax of the probabilities.
    return array.argmax(axis=-1)


def _check_reference(reference: int | None, n_models: int) -> None:
    if reference is None:
        return
    if isinstance(reference, bool) or not isinstance(reference, int | np.integer):
        raise TypeError(f"reference must be an int or None, got {reference!r}")
    if not 0 <= reference < n_models:
        raise ValueError(
            f"reference must be a model index in [0, {n_models}), got {reference}"
        )


def ambiguity(
    logits: np.ndarray, *, reference: int | None = None, inputs: str = "logits"
) -> np.ndarray:
    """Return the share of samples on which the models' predictions conflict.

    Parameters
    ----------
    logits
        ``(n_models, ..., n_samples, n_classes)``.
    reference
        None: a sample counts where any two models predict different classes.
        An index: where any model predicts a class other than that model's.

    Returns
    -------
    ``(...)``, in [0, 1]; 0 when all models predict alike.

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> b = np.array([[2.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    >>> round(float(ambiguity(np.stack([a, a, b]))), 4)
    0.3333
    """
    predictions = _predictions(logits, inputs)
    _check_reference(reference, predictions.shape[0])
    if reference is None:
        conflict = predictions.max(axis=0) != predictions.min(axis=0)
    else:
        conflict = (predictions != predictions[reference]).any(axis=0)
    return conflict.mean(axis=-1)[()]


def discrepancy(
    logits: np.ndarray, *, reference: int | None = None, inputs: str = "logits"
) -> np.ndarray:
    """Return the largest disagreement between two models of the set.

    Parameters
    ----------
    logits
        ``(n_models, ..., n_samples, n_classes)``.
    reference
        None: the maximum over every pair of models. An index: the maximum
        over the models of their disagreement with that model.

    Returns
    -------
    ``(...)``, in [0, 1]; never larger than the ambiguity.

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> b = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> round(float(discrepancy(np.stack([a, a, b]), reference=0)), 4)
    0.6667
    """
    predictions = _predictions(logits, inputs)
    n_models = predictions.shape[0]
    _check_reference(reference, n_models)
    if reference is None:
        pairs = [(i, j) for i in range(n_models) for j in range(i + 1, n_models)]
    else:
        pairs = [(i, reference) for i in range(n_models) if i != reference]
    rates = np.stack(
        [(predictions[i] != predictions[j]).mean(axis=-1) for i, j in pairs]
    )
    return rates.max(axis=0)[()]
