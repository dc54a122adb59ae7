"""Prediction disagreement with a reference run, and Fort's diversity plane.

Three views of how often two models predict different classes:

- through training: every run against the reference (``base``) at the same
  epoch, grouped by condition;
- epoch by epoch: every epoch of one run against every epoch of another;
- against accuracy (Fort et al. 2019, "Deep Ensembles: A Loss Landscape
  Perspective"): the disagreement with the trained reference divided by the
  compared model's error, against the compared model's accuracy, with the
  limits that any pair of accuracies allows.

The functions take logits and labels as arrays and return arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from funcsim_lib.measures import (
    against_reference,
    cross_epochs,
    disagreement,
    error_corrected_disagreement,
)

# The matrices the qualitative section draws: (compared run, reference run).
EPOCH_MATRIX_PAIRS = (("siddo_1", "base"), ("base", "base"), ("disdo_1", "base"))


def check_labels(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Return ``labels`` as integers after checking them against ``logits``."""
    labels = np.asarray(labels)
    if logits.ndim < 2 or labels.shape != (logits.shape[-2],):
        raise ValueError(
            f"labels must have shape (n_samples,) = ({logits.shape[-2]},) to match "
            f"logits {logits.shape}, got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    n_classes = logits.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must be in [0, {n_classes}), got values from {labels.min()} "
            f"to {labels.max()}"
        )
    return labels


def accuracy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Return the share of samples whose predicted class is the label.

    ``logits`` is ``(..., n_samples, n_classes)`` and ``labels``
    ``(n_samples,)``; the result keeps the leading dimensions.

    >>> float(accuracy(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0])))
    0.5
    """
    logits = np.asarray(logits)
    labels = check_labels(logits, labels)
    return (logits.argmax(-1) == labels).mean(-1)


def runs_by_condition(
    runs: Sequence[str], run_conditions: Mapping[str, str], conditions: Sequence[str]
) -> dict[str, list[int]]:
    """Return the positions in ``runs`` of each condition's runs."""
    groups = {
        c: [i for i, r in enumerate(runs) if run_conditions[r] == c] for c in conditions
    }
    empty = [c for c, rows in groups.items() if not rows]
    if empty:
        raise ValueError(f"conditions {empty} have no run in {list(runs)}")
    return groups


def disagreement_by_condition(
    logits: np.ndarray,
    runs: Sequence[str],
    run_conditions: Mapping[str, str],
    conditions: Sequence[str] = ("siddo", "disdo", "replica"),
    reference: str = "base",
) -> dict[str, np.ndarray]:
    """Return each run's disagreement with ``reference`` at the same epoch.

    ``logits`` is ``(n_runs, n_epochs + 1, n_samples, n_classes)`` in the order
    of ``runs``. The result maps each condition to ``(n_runs_of_condition,
    n_epochs + 1)``.
    """
    logits = np.asarray(logits)
    check_runs(logits, runs, reference)
    base = logits[list(runs).index(reference)]
    groups = runs_by_condition(runs, run_conditions, conditions)
    return {
        c: against_reference(disagreement, logits[rows], base)
        for c, rows in groups.items()
    }


def compare_runs(first: np.ndarray, second: np.ndarray, verb: str) -> str:
    """Say whether the runs of ``first`` score above those of ``second``.

    ``first`` and ``second`` hold one value per run. Only a gap between the
    two ranges counts as a difference: with a few runs per condition, no
    interval is tight enough for a difference of means to mean more.

    >>> compare_runs(np.array([0.05, 0.06]), np.array([0.01, 0.02]), "disagree")
    'disagree more than'
    >>> compare_runs(np.array([0.05, 0.06]), np.array([0.055]), "disagree")
    'disagree about as much as'
    """
    first, second = np.asarray(first), np.asarray(second)
    if first.min() > second.max():
        return f"{verb} more than"
    if first.max() < second.min():
        return f"{verb} less than"
    return f"{verb} about as much as"


def check_runs(logits: np.ndarray, runs: Sequence[str], *needed: str) -> None:
    if logits.ndim != 4 or logits.shape[0] != len(runs):
        raise ValueError(
            f"logits must have shape (n_runs={len(runs)}, n_epochs + 1, n_samples, "
            f"n_classes), got {logits.shape}"
        )
    missing = [name for name in needed if name not in runs]
    if missing:
        raise ValueError(f"runs {missing} not found; the study has {list(runs)}")


def epoch_matrices(
    logits: np.ndarray,
    runs: Sequence[str],
    pairs: Sequence[tuple[str, str]] = EPOCH_MATRIX_PAIRS,
) -> dict[tuple[str, str], np.ndarray]:
    """Return the disagreement of every epoch of one run with every epoch of another.

    ``logits`` is ``(n_runs, n_epochs + 1, n_samples, n_classes)`` in the order
    of ``runs``. Each ``(compared, reference)`` pair is the key of a matrix
    ``(n_epochs + 1, n_epochs + 1)`` whose entry ``[i, j]`` compares epoch
    ``i`` of ``compared`` with epoch ``j`` of ``reference``.
    """
    logits = np.asarray(logits)
    check_runs(logits, runs, *(name for pair in pairs for name in pair))
    index = list(runs).index
    return {
        (a, b): cross_epochs(disagreement, logits[index(a)], logits[index(b)])
        for a, b in pairs
    }


def matrix_summary(matrix: np.ndarray) -> dict[str, float]:
    """Return the values of an epoch matrix that the text quotes.

    - ``epoch_1``, ``last``: the diagonal at epoch 1 and at the last epoch;
    - ``diagonal_mean``, ``diagonal_max``: the diagonal from epoch 1 on;
    - ``first_to_last``: entry ``[1, -1]``, the compared run after epoch 1
      against the reference after the last epoch.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(matrix) < 2:
        raise ValueError(
            f"matrix must be square with at least 2 epochs, got shape {matrix.shape}"
        )
    diagonal = np.diagonal(matrix)[1:]
    return {
        "epoch_1": float(matrix[1, 1]),
        "last": float(matrix[-1, -1]),
        "diagonal_mean": float(diagonal.mean()),
        "diagonal_max": float(diagonal.max()),
        "first_to_last": float(matrix[1, -1]),
    }


@dataclass(frozen=True)
class DiversityPoints:
    """Accuracy and error-corrected disagreement of every checkpoint plotted.

    Disagreement is with ``reference`` after ``reference_epoch``.
    """

    runs: tuple[str, ...]
    epochs: np.ndarray  # (n_plotted,) epochs plotted for every run
    accuracy: np.ndarray  # (n_runs, n_plotted)
    disagreement: np.ndarray  # (n_runs, n_plotted)
    corrected: np.ndarray  # (n_runs, n_plotted) disagreement / (1 - accuracy)
    reference: str
    reference_epoch: int
    reference_accuracy: float
    n_classes: int


def diversity_points(
    logits: np.ndarray,
    runs: Sequence[str],
    labels: np.ndarray,
    reference: str = "base",
    first_epoch: int = 1,
) -> DiversityPoints:
    """Place every checkpoint from ``first_epoch`` on in Fort's diversity plane.

    The reference is ``reference`` after the last epoch, the trained model
    that the others are compared with. ``logits`` is ``(n_runs, n_epochs + 1,
    n_samples, n_classes)`` in the order of ``runs``.
    """
    logits = np.asarray(logits)
    check_runs(logits, runs, reference)
    if not 0 <= first_epoch < logits.shape[1]:
        raise ValueError(
            f"first_epoch must be in [0, {logits.shape[1] - 1}], got {first_epoch}"
        )
    labels = check_labels(logits, labels)
    final = logits[list(runs).index(reference), -1]
    compared = logits[:, first_epoch:]
    target = np.broadcast_to(final, compared.shape)
    return DiversityPoints(
        runs=tuple(runs),
        epochs=np.arange(first_epoch, logits.shape[1]),
        accuracy=accuracy(compared, labels),
        disagreement=disagreement(compared, target),
        corrected=error_corrected_disagreement(compared, target, labels),
        reference=reference,
        reference_epoch=logits.shape[1] - 1,
        reference_accuracy=float(accuracy(final, labels)),
        n_classes=logits.shape[-1],
    )


def diversity_limits(
    accuracy: np.ndarray, reference_accuracy: float, n_classes: int
) -> dict[str, np.ndarray]:
    """Return the limits of the error-corrected disagreement at each accuracy.

    A model of accuracy ``a`` is compared with a reference of accuracy ``r``,
    both shares of one test set. The share of samples where their predicted
    classes differ is then:

    - ``lower``: at least ``|a - r|``. The correct samples of one model contain
      those of the other, and both make the same mistakes.
    - ``upper``: at most ``min(1, 2 - a - r)``. As few samples as possible are
      correct for both, and where both are wrong they predict different
      classes. With two classes two wrong predictions agree, so the bound is
      ``min(a + r, 2 - a - r)``.
    - ``independent``: ``1 - a r - (1 - a)(1 - r) / (n_classes - 1)`` on
      average when the two models' errors are independent and a wrong
      prediction is uniform over the ``n_classes - 1`` wrong classes.

    Each is divided by the model's error ``1 - a``, and is NaN where that is 0.

    >>> limits = diversity_limits(np.array([0.9]), 0.9, 10)
    >>> [round(float(limits[k][0]), 3) for k in ("lower", "independent", "upper")]
    [0.0, 1.889, 2.0]
    """
    a = np.asarray(accuracy, dtype=np.float64)
    r = float(reference_accuracy)
    if np.any((a < 0) | (a > 1)) or not 0 <= r <= 1:
        raise ValueError(
            "accuracy and reference_accuracy must be in [0, 1], got "
            f"{a.min() if a.size else a} to {a.max() if a.size else a} and {r}"
        )
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    lower = np.abs(a - r)
    if n_classes == 2:
        upper = np.minimum(a + r, 2 - a - r)
    else:
        upper = np.minimum(1.0, 2 - a - r)
    independent = 1 - a * r - (1 - a) * (1 - r) / (n_classes - 1)
    error = 1 - a
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = {"lower": lower, "independent": independent, "upper": upper}
        return {k: np.where(error > 0, v / error, np.nan) for k, v in limits.items()}


def diversity_summary(
    points: DiversityPoints,
    run_conditions: Mapping[str, str],
    conditions: Sequence[str] = ("siddo", "disdo"),
) -> dict[str, dict[str, float]]:
    """Summarise the last plotted checkpoint of each condition's runs.

    For each condition: the mean ``accuracy``, the mean error-corrected
    disagreement ``corrected``, and ``of_independent``, the mean ratio of each
    run's value to the independent-errors value at its own accuracy (1: as
    diverse as models whose errors are independent of the reference's).
    """
    groups = runs_by_condition(points.runs, run_conditions, conditions)
    summary = {}
    for condition, rows in groups.items():
        acc = points.accuracy[rows, -1]
        corrected = points.corrected[rows, -1]
        expected = diversity_limits(acc, points.reference_accuracy, points.n_classes)
        summary[condition] = {
            "accuracy": float(acc.mean()),
            "corrected": float(np.nanmean(corrected)),
            "of_independent": float(np.nanmean(corrected / expected["independent"])),
        }
    return summary
