"""The registry: every measure with its properties declared as data.

The tests iterate over ``REGISTRY`` to check each declared property
(symmetry, the value for identical models, the range), and the book prints
its formulas from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from funcsim_lib.measures import group, pair, representation

# What a measure reads from the models, and from the data set. Formulas
# avoid a bare "|" so that they can stand in a Markdown table.
READS = ("labels", "probabilities", "logits", "ground truth", "features")
KINDS = ("similarity", "distance")
ARITIES = ("pair", "group", "features")


@dataclass(frozen=True)
class Measure:
    """One measure and its declared properties.

    ``labels`` in ``reads`` means the predicted classes; ``ground truth`` the
    true classes of the samples.
    """

    name: str  # the public function's name
    label: str  # a short name for figures and tables
    function: Callable
    kind: str  # "similarity": grows as models agree; "distance": shrinks
    low: float
    high: float | Callable[[int], float]  # a number, or a function of n_classes
    reads: frozenset[str]
    symmetric: bool  # for groups: invariant to the order of the models
    arity: str  # "pair", "group" (a set of models) or "features"
    formula: str  # LaTeX, for the book
    source: str
    undefined_when: str | None = None  # when the value is NaN
    finish: pair.Finisher | None = None  # pair output measures: stats -> values

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert self.arity in ARITIES, self.arity
        assert self.reads <= set(READS), self.reads

    def bounds(self, n_classes: int) -> tuple[float, float]:
        """Return the range (low, high) for outputs with ``n_classes`` classes."""
        high = self.high(n_classes) if callable(self.high) else self.high
        return self.low, high

    @property
    def identity(self) -> float:
        """The value for two identical models: the most similar end of the range."""
        return self.high if self.kind == "similarity" else self.low

    @property
    def needs(self) -> frozenset[str]:
        """Statistics of the all-pairs engine that this measure reads."""
        if self.finish is None:
            return frozenset()
        return self.finish.needs


_DIS = r"\mathrm{Dis}(A, B) = \frac{1}{n}\sum_i \mathbb{1}[\hat y^A_i \neq \hat y^B_i]"

_MEASURES = (
    Measure(
        "disagreement",
        "disagreement",
        pair.disagreement,
        "distance",
        0.0,
        1.0,
        frozenset({"labels"}),
        True,
        "pair",
        _DIS,
        "Klabunde et al. (2023); Fort et al. (2019)",
        finish=pair.finish_disagreement,
    ),
    Measure(
        "error_corrected_disagreement",
        "error-corrected disagreement",
        pair.error_corrected_disagreement,
        "distance",
        0.0,
        math.inf,
        frozenset({"labels", "ground truth"}),
        False,
        "pair",
        r"\mathrm{Dis}(A, B) / e_A, \quad e_A = \text{error rate of } A",
        "Fort et al. (2019)",
        "the compared model A makes no error",
        pair.finish_error_corrected_disagreement,
    ),
    Measure(
        "min_max_normalised_disagreement",
        "min-max normalised disagreement",
        pair.min_max_normalised_disagreement,
        "distance",
        0.0,
        1.0,
        frozenset({"labels", "ground truth"}),
        True,
        "pair",
        r"\frac{\mathrm{Dis}(A, B) - \lvert e_A - e_B \rvert}"
        r"{\min(e_A + e_B, 1) - \lvert e_A - e_B \rvert}",
        "Klabunde and Lemmerich (2023)",
        "a model makes no error",
        pair.finish_min_max_normalised_disagreement,
    ),
    Measure(
        "cohens_kappa",
        "Cohen's kappa",
        pair.cohens_kappa,
        "similarity",
        -1.0,
        1.0,
        frozenset({"labels"}),
        True,
        "pair",
        r"\frac{p_o - p_e}{1 - p_e}, \quad p_o = 1 - \mathrm{Dis}(A, B), \quad"
        r" p_e = \sum_c \pi^A_c \pi^B_c",
        "Cohen (1960); Klabunde et al. (2023)",
        "both models predict one and the same class for every sample",
        pair.finish_cohens_kappa,
    ),
    Measure(
        "accuracy_difference",
        "accuracy difference",
        pair.accuracy_difference,
        "distance",
        0.0,
        1.0,
        frozenset({"labels", "ground truth"}),
        True,
        "pair",
        r"\lvert e_A - e_B \rvert",
        "Klabunde et al. (2023)",
        finish=pair.finish_accuracy_difference,
    ),
    Measure(
        "activation_distance",
        "activation distance",
        pair.activation_distance,
        "distance",
        0.0,
        math.sqrt(2.0),
        frozenset({"probabilities"}),
        True,
        "pair",
        r"\frac{1}{n}\sum_i \lVert p_i - q_i \rVert_2",
        "the blog post; twice the norm of prediction difference",
        finish=pair.finish_activation_distance,
    ),
    Measure(
        "prediction_difference_norm",
        "norm of prediction difference",
        pair.prediction_difference_norm,
        "distance",
        0.0,
        math.sqrt(2.0) / 2,
        frozenset({"probabilities"}),
        True,
        "pair",
        r"\frac{1}{2n}\sum_i \lVert p_i - q_i \rVert_2",
        "Klabunde et al. (2023)",
        finish=pair.finish_prediction_difference_norm,
    ),
    Measure(
        "cosine_similarity",
        "cosine similarity",
        pair.cosine_similarity,
        "similarity",
        0.0,
        1.0,
        frozenset({"probabilities"}),
        True,
        "pair",
        r"\frac{1}{n}\sum_i \frac{p_i \cdot q_i}{\lVert p_i \rVert \lVert q_i \rVert}",
        "the blog post",
        finish=pair.finish_cosine_similarity,
    ),
    Measure(
        "js_divergence",
        "JS divergence (nats)",
        pair.js_divergence,
        "distance",
        0.0,
        math.log(2.0),
        frozenset({"probabilities"}),
        True,
        "pair",
        r"\frac{1}{n}\sum_i \tfrac12 \mathrm{KL}(p_i \Vert m_i)"
        r" + \tfrac12 \mathrm{KL}(q_i \Vert m_i), \quad m_i = \tfrac12 (p_i + q_i)",
        "the blog post; Klabunde et al. (2023)",
        finish=pair.finish_js_divergence,
    ),
    Measure(
        "surrogate_churn",
        "surrogate churn",
        pair.surrogate_churn,
        "distance",
        0.0,
        lambda n_classes: n_classes / 2,
        frozenset({"probabilities"}),
        True,
        "pair",
        r"\frac{1}{2n}\sum_i \Big\lVert \Big(\frac{p_i}{\max_c p_{ic}}\Big)^{\alpha}"
        r" - \Big(\frac{q_i}{\max_c q_{ic}}\Big)^{\alpha} \Big\rVert_1",
        "Bhojanapalli et al. (2021)",
        finish=pair.finish_surrogate_churn,
    ),
    Measure(
        "ambiguity",
        "ambiguity",
        group.ambiguity,
        "distance",
        0.0,
        1.0,
        frozenset({"labels"}),
        True,
        "group",
        r"\frac{1}{n}\sum_i \max_{k, l} \mathbb{1}[\hat y^k_i \neq \hat y^l_i]",
        "Marx et al. (2020); Klabunde et al. (2023)",
    ),
    Measure(
        "discrepancy",
        "discrepancy",
        group.discrepancy,
        "distance",
        0.0,
        1.0,
        frozenset({"labels"}),
        True,
        "group",
        r"\max_{k, l} \mathrm{Dis}(k, l)",
        "Marx et al. (2020); Klabunde et al. (2023)",
    ),
    Measure(
        "linear_cka",
        "linear CKA",
        representation.linear_cka,
        "similarity",
        0.0,
        1.0,
        frozenset({"features"}),
        True,
        "features",
        r"\frac{\lVert Y^\top X \rVert_F^2}{\lVert X^\top X \rVert_F"
        r" \lVert Y^\top Y \rVert_F}, \quad X, Y \text{ with centred columns}",
        "Kornblith et al. (2019)",
        "a feature matrix is constant over the samples",
    ),
)

REGISTRY: dict[str, Measure] = {m.name: m for m in _MEASURES}
PAIR_OUTPUT_MEASURES: tuple[str, ...] = tuple(
    m.name for m in _MEASURES if m.finish is not None
)


def get_measure(measure: str | Callable | Measure) -> Measure:
    """Return the registry entry for a name, a public function or an entry."""
    if isinstance(measure, Measure):
        return measure
    if isinstance(measure, str):
        if measure in REGISTRY:
            return REGISTRY[measure]
        raise ValueError(
            f"unknown measure {measure!r}; expected one of {sorted(REGISTRY)}"
        )
    for entry in _MEASURES:
        if entry.function is measure:
            return entry
    raise ValueError(
        f"{measure!r} is not a registered measure; expected a name from "
        f"{sorted(REGISTRY)} or one of their functions"
    )
