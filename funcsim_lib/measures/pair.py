"""Output-based measures of two models on the same samples.

Each public function takes two arrays ``(..., n_samples, n_classes)`` of
logits (or, with ``inputs="probabilities"``, of probability rows) and returns
one value per leading index, ``(...)``: a NumPy scalar for 2-D input. The
value of each measure is computed from counts and sums over samples
(``PairStatistics``), by the same ``finish_*`` function that the all-pairs
engine uses, so a single pair and a pairwise matrix agree exactly.

Asymmetric measures read their first argument as the compared model and the
second as the reference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from funcsim_lib.measures._validation import (
    check_output_values,
    check_outputs_shape,
    check_same_shape,
    warn_undefined,
)
from funcsim_lib.measures.engine import PairStatistics, pair_statistics
from funcsim_lib.measures.kernels import LN2

Finisher = Callable[..., np.ndarray]


def needs(*statistics: str) -> Callable[[Finisher], Finisher]:
    """Mark a finisher with the statistics it reads."""

    def mark(finish: Finisher) -> Finisher:
        finish.needs = frozenset(statistics)
        return finish

    return mark


def _nan_where(values: np.ndarray, undefined: np.ndarray, name: str, reason: str):
    values = np.where(undefined, np.nan, values)
    warn_undefined(name, reason, int(undefined.sum()), undefined.size)
    return values


def _safe(denominator: np.ndarray, undefined: np.ndarray) -> np.ndarray:
    return np.where(undefined, 1, denominator)


# -- finishers: statistics -> (n_epochs, n_pairs) ---------------------------


@needs("disagreements")
def finish_disagreement(stats: PairStatistics) -> np.ndarray:
    return stats.disagreements / stats.n_samples


@needs("disagreements", "errors")
def finish_error_corrected_disagreement(stats: PairStatistics) -> np.ndarray:
    errors = stats.errors[:, stats.pairs[:, 0]]
    undefined = errors == 0
    values = stats.disagreements / _safe(errors, undefined)
    return _nan_where(
        values,
        undefined,
        "error_corrected_disagreement",
        "the compared model makes no error",
    )


@needs("disagreements", "errors")
def finish_min_max_normalised_disagreement(stats: PairStatistics) -> np.ndarray:
    errors_a = stats.errors[:, stats.pairs[:, 0]]
    errors_b = stats.errors[:, stats.pairs[:, 1]]
    lowest = np.abs(errors_a - errors_b)
    highest = np.minimum(errors_a + errors_b, stats.n_samples)
    undefined = highest == lowest
    values = (stats.disagreements - lowest) / _safe(highest - lowest, undefined)
    values = _nan_where(
        np.clip(values, 0.0, 1.0),
        undefined,
        "min_max_normalised_disagreement",
        "a model makes no error, so the disagreement is fixed by the errors",
    )
    return values


@needs("disagreements", "histograms")
def finish_cohens_kappa(stats: PairStatistics) -> np.ndarray:
    n = stats.n_samples
    hist_a = stats.histograms[:, stats.pairs[:, 0]]
    hist_b = stats.histograms[:, stats.pairs[:, 1]]
    # kappa = (n * agreements - chance) / (n^2 - chance) with chance =
    # n^2 p_e: integers, so p_e == 1 is tested exactly and the division is
    # the only rounding.
    chance = np.einsum("epc,epc->ep", hist_a, hist_b)
    undefined = chance == n * n
    numerator = n * (n - stats.disagreements) - chance
    values = numerator / _safe(n * n - chance, undefined)
    return _nan_where(
        np.clip(values, -1.0, 1.0),
        undefined,
        "cohens_kappa",
        "both models predict one and the same class for every sample",
    )


@needs("errors")
def finish_accuracy_difference(stats: PairStatistics) -> np.ndarray:
    errors_a = stats.errors[:, stats.pairs[:, 0]]
    errors_b = stats.errors[:, stats.pairs[:, 1]]
    return np.abs(errors_a - errors_b) / stats.n_samples


@needs("activation")
def finish_activation_distance(stats: PairStatistics) -> np.ndarray:
    return np.clip(stats.sums["activation"] / stats.n_samples, 0.0, np.sqrt(2.0))


@needs("activation")
def finish_prediction_difference_norm(stats: PairStatistics) -> np.ndarray:
    values = stats.sums["activation"] / (2 * stats.n_samples)
    return np.clip(values, 0.0, np.sqrt(2.0) / 2)


@needs("cosine")
def finish_cosine_similarity(stats: PairStatistics) -> np.ndarray:
    return np.clip(stats.sums["cosine"] / stats.n_samples, 0.0, 1.0)


@needs("jsd")
def finish_js_divergence(stats: PairStatistics, unit: str = "nats") -> np.ndarray:
    if unit not in ("nats", "bits"):
        raise ValueError(f"unit must be 'nats' or 'bits', got {unit!r}")
    values = np.clip(stats.sums["jsd"] / stats.n_samples, 0.0, LN2)
    return values / LN2 if unit == "bits" else values


@needs("churn")
def finish_surrogate_churn(stats: PairStatistics) -> np.ndarray:
    values = stats.sums["churn"] / stats.n_samples
    return np.clip(values, 0.0, stats.n_classes / 2)


# -- one pair ----------------------------------------------------------------


def evaluate_pair(
    finish: Finisher,
    logits_a: object,
    logits_b: object,
    labels: object = None,
    *,
    inputs: str = "logits",
    alpha: float = 1.0,
    **options: object,
) -> np.ndarray:
    """Compute one measure of model A against model B over the last two axes."""
    a = check_outputs_shape("logits_a", logits_a, inputs)
    b = check_outputs_shape("logits_b", logits_b, inputs)
    check_same_shape("logits_a", a, "logits_b", b)
    check_output_values("logits_a", a, inputs)
    check_output_values("logits_b", b, inputs)
    lead = a.shape[:-2]
    stats = pair_statistics(
        [a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])],
        np.array([[0, 1]]),
        set(finish.needs),
        names=("logits_a", "logits_b"),
        labels=labels,
        inputs=inputs,
        alpha=alpha,
        check_values=False,
    )
    return finish(stats, **options)[:, 0].reshape(lead)[()]


def disagreement(
    logits_a: np.ndarray, logits_b: np.ndarray, *, inputs: str = "logits"
) -> np.ndarray:
    """Return the share of samples whose predicted classes differ, in [0, 1].

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> b = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> float(disagreement(a, b))
    0.5
    """
    return evaluate_pair(finish_disagreement, logits_a, logits_b, inputs=inputs)


def error_corrected_disagreement(
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    labels: np.ndarray,
    *,
    inputs: str = "logits",
) -> np.ndarray:
    """Return the disagreement divided by the error rate of model A, in [0, inf).

    After Fort et al. (2019), who plot it against accuracy: a model that
    differs from the reference only where it is wrong scores at most 1.
    Model A (the first argument) is the compared model and B the reference,
    so the measure is not symmetric. It is NaN, with an
    ``UndefinedMeasureWarning``, where model A makes no error.

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 1.0]])
    >>> b = np.array([[2.0, 0.0], [2.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    >>> float(error_corrected_disagreement(a, b, np.array([0, 0, 0, 0])))
    0.5
    """
    return evaluate_pair(
        finish_error_corrected_disagreement, logits_a, logits_b, labels, inputs=inputs
    )


def min_max_normalised_disagreement(
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    labels: np.ndarray,
    *,
    inputs: str = "logits",
) -> np.ndarray:
    """Return the disagreement rescaled between its bounds given the errors, in [0, 1].

    With error rates ``e_a`` and ``e_b``, the disagreement lies between
    ``|e_a - e_b|`` and ``min(e_a + e_b, 1)`` (Klabunde and Lemmerich, 2023);
    the result is its position in that interval. It is NaN, with an
    ``UndefinedMeasureWarning``, where a model makes no error, because the
    interval is then a single point.

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 1.0]])
    >>> b = np.array([[0.0, 2.0], [2.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    >>> float(min_max_normalised_disagreement(a, b, np.array([0, 0, 0, 1])))
    1.0
    """
    return evaluate_pair(
        finish_min_max_normalised_disagreement,
        logits_a,
        logits_b,
        labels,
        inputs=inputs,
    )


def cohens_kappa(
    logits_a: np.ndarray, logits_b: np.ndarray, *, inputs: str = "logits"
) -> np.ndarray:
    """Return Cohen's kappa of the predicted classes, in [-1, 1].

    ``(p_o - p_e) / (1 - p_e)``, with ``p_o`` the share of samples on which the
    predictions agree and ``p_e`` the agreement expected from the two models'
    class frequencies. It is NaN, with an ``UndefinedMeasureWarning``, where
    both models predict one and the same class for every sample (``p_e = 1``).

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 1.0]])
    >>> b = np.array([[2.0, 0.0], [2.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    >>> float(cohens_kappa(a, b))
    0.5
    """
    return evaluate_pair(finish_cohens_kappa, logits_a, logits_b, inputs=inputs)


def accuracy_difference(
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    labels: np.ndarray,
    *,
    inputs: str = "logits",
) -> np.ndarray:
    """Return the absolute difference of the two models' accuracies, in [0, 1].

    >>> a = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> b = np.array([[2.0, 0.0], [2.0, 0.0]])
    >>> float(accuracy_difference(a, b, np.array([0, 0])))
    0.5
    """
    return evaluate_pair(
        finish_accuracy_difference, logits_a, logits_b, labels, inputs=inputs
    )


def activation_distance(
    logits_a: np.ndarray, logits_b: np.ndarray, *, inputs: str = "logits"
) -> np.ndarray:
    """Return the mean over samples of the L2 distance between softmax outputs.

    This is the definition of the blog post this book reproduces; the range is
    [0, sqrt(2)]. Klabunde et al. (2023) call half of it the norm of
    prediction difference (``prediction_difference_norm``).

    >>> far = np.array([[50.0, 0.0]])
    >>> round(float(activation_distance(np.zeros((1, 2)), far)), 4)
    0.7071
    """
    return evaluate_pair(finish_activation_distance, logits_a, logits_b, inputs=inputs)


def prediction_difference_norm(
    logits_a: np.ndarray, logits_b: np.ndarray, *, inputs: str = "logits"
) -> np.ndarray:
    """Return half the activation distance, in [0, sqrt(2) / 2].

    The norm of prediction difference of Klabunde et al. (2023):
    ``1 / (2 n) sum_i ||p_i - q_i||_2``.

    >>> far = np.array([[50.0, 0.0]])
    >>> round(float(prediction_difference_norm(np.zeros((1, 2)), far)), 4)
    0.3536
    """
    return evaluate_pair(
        finish_prediction_difference_norm, logits_a, logits_b, inputs=inputs
    )


def cosine_similarity(
    logits_a: np.ndarray, logits_b: np.ndarray, *, inputs: str = "logits"
) -> np.ndarray:
    """Return the mean over samples of the cosine of the softmax outputs, in [0, 1].

    >>> p = np.array([[1.0, 0.0]])
    >>> q = np.array([[0.5, 0.5]])
    >>> round(float(cosine_similarity(p, q, inputs="probabilities")), 4)
    0.7071
    """
    return evaluate_pair(finish_cosine_similarity, logits_a, logits_b, inputs=inputs)


def js_divergence(
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    *,
    unit: str = "nats",
    inputs: str = "logits",
) -> np.ndarray:
    """Return the mean over samples of the Jensen-Shannon divergence.

    ``JSD(p, q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``,
    per sample along the class axis. ``unit`` is "nats" (range [0, ln 2]) or
    "bits" (range [0, 1]). The mixture is formed in log space and summed
    without cancellation (see ``kernels.js_divergence_rows``), so near-identical
    rows, exact zeros and logits far apart all give finite, accurate values.

    >>> float(js_divergence(np.zeros((1, 3)), np.zeros((1, 3))))
    0.0
    >>> p = np.array([[1.0, 0.0]])
    >>> q = np.array([[0.0, 1.0]])
    >>> float(js_divergence(p, q, unit="bits", inputs="probabilities"))
    1.0
    """
    return evaluate_pair(
        finish_js_divergence, logits_a, logits_b, inputs=inputs, unit=unit
    )


def surrogate_churn(
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    *,
    alpha: float = 1.0,
    inputs: str = "logits",
) -> np.ndarray:
    """Return the surrogate churn of Bhojanapalli et al. (2021), in [0, n_classes / 2].

    ``1 / (2 n) sum_i || (p_i / max p_i) ** alpha - (q_i / max q_i) ** alpha ||_1``;
    ``alpha > 0`` sharpens the outputs as it grows, and as alpha goes to
    infinity the measure approaches the disagreement.

    >>> p = np.array([[0.5, 0.5]])
    >>> q = np.array([[1.0, 0.0]])
    >>> float(surrogate_churn(p, q, inputs="probabilities"))
    0.5
    """
    return evaluate_pair(
        finish_surrogate_churn, logits_a, logits_b, inputs=inputs, alpha=alpha
    )
