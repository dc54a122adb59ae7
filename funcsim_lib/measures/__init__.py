"""Functional similarity measures of model outputs, and their aggregation.

Conventions shared by every measure:

- Inputs are logits ``(..., n_samples, n_classes)`` of any float dtype, or
  probability rows with ``inputs="probabilities"``. Softmax is taken once,
  through ``log_softmax``, in float64, and each result is clipped into the
  measure's declared range.
- A measure returns one value per leading index, averaged over samples.
- ``pairwise``, ``pairwise_measures``, ``cross_epochs`` and
  ``against_reference`` read the outputs in blocks, so a large test set needs
  memory for one block, and the result equals the one-pass value up to
  rounding. The single-pair functions use the same blocks but check their
  whole input first.
- Invalid input (shapes that differ, NaN or inf, rows that are not
  distributions, empty arrays, a dtype that is not floating) raises
  ``ValueError`` or ``TypeError`` naming the argument, the expected and the
  received value.
- Undefined values have one policy: where a measure is 0/0 on valid input
  (kappa when both models predict one class everywhere; error-corrected
  disagreement when the compared model makes no error; min-max normalised
  disagreement when a model makes no error; CKA of constant features), it is
  NaN and an ``UndefinedMeasureWarning`` says how many values are. No epsilon
  is added anywhere.

``REGISTRY`` lists every measure with its declared properties.
"""

from funcsim_lib.measures._validation import UndefinedMeasureWarning
from funcsim_lib.measures.aggregate import (
    against_reference,
    cross_epochs,
    pairwise,
    pairwise_measures,
)
from funcsim_lib.measures.group import ambiguity, discrepancy
from funcsim_lib.measures.outputs import log_softmax, softmax
from funcsim_lib.measures.pair import (
    accuracy_difference,
    activation_distance,
    cohens_kappa,
    cosine_similarity,
    disagreement,
    error_corrected_disagreement,
    js_divergence,
    min_max_normalised_disagreement,
    prediction_difference_norm,
    surrogate_churn,
)
from funcsim_lib.measures.registry import (
    PAIR_OUTPUT_MEASURES,
    REGISTRY,
    Measure,
    get_measure,
)
from funcsim_lib.measures.representation import CKAAccumulator, linear_cka
from funcsim_lib.measures.summary import (
    Interval,
    interval_sign,
    pair_mean_difference,
    pair_mean_interval,
    pair_values,
    similarity_margin,
    spread,
)

__all__ = [
    "CKAAccumulator",
    "Interval",
    "Measure",
    "PAIR_OUTPUT_MEASURES",
    "REGISTRY",
    "UndefinedMeasureWarning",
    "accuracy_difference",
    "activation_distance",
    "against_reference",
    "ambiguity",
    "cohens_kappa",
    "cosine_similarity",
    "cross_epochs",
    "disagreement",
    "discrepancy",
    "error_corrected_disagreement",
    "get_measure",
    "interval_sign",
    "js_divergence",
    "linear_cka",
    "log_softmax",
    "min_max_normalised_disagreement",
    "pair_mean_difference",
    "pair_mean_interval",
    "pair_values",
    "pairwise",
    "pairwise_measures",
    "prediction_difference_norm",
    "similarity_margin",
    "softmax",
    "spread",
    "surrogate_churn",
]
