"""Whether the embeddings agree with the function space on the trend.

The trend is the order of the conditions by how far their runs end from the
reference run (``base``): in the function space itself, and in each
embedding. Distances are divided by the root-mean-square distance of all
points from their centroid, so that methods of different scales compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from funcsim_lib.embedding.methods import Embedding
from funcsim_lib.embedding.space import FunctionSpace

FUNCTION_SPACE = "function space"
SPREAD = (np.mean, np.min, np.max)


def distances_to_reference(
    coords: np.ndarray, space: FunctionSpace, reference: str = "base"
) -> np.ndarray:
    """Return each run's distance from ``reference`` at the same epoch.

    ``coords`` ``(n_points, n_dims)`` are the points themselves or an
    embedding of them, in the row order of ``space``. The result
    ``(n_runs, n_epochs + 1)`` is in units of the root-mean-square distance
    of all rows from their centroid.
    """
    if reference not in space.runs:
        raise ValueError(f"reference must be one of {space.runs}, got {reference!r}")
    coords = np.asarray(coords, dtype=np.float64)
    per_run = space.per_run(coords)
    centred = coords - coords.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=1).mean())
    if scale == 0:
        raise ValueError("coords must not all be equal; their spread is 0")
    gaps = per_run - per_run[space.runs.index(reference)]
    return np.linalg.norm(gaps, axis=-1) / scale


@dataclass(frozen=True)
class TrendComparison:
    """End-point distances from the reference, per method and condition."""

    reference: str
    conditions: tuple[str, ...]
    methods: tuple[str, ...]  # FUNCTION_SPACE first, then the embeddings
    # method -> condition -> (n_runs_of_condition,) distance at the last epoch
    end_distance: dict[str, dict[str, np.ndarray]]
    # method -> Spearman correlation of its distances from the reference with
    # the function space's, over every epoch of every compared run
    correlation: dict[str, float]

    def mean_end_distance(self, method: str) -> dict[str, float]:
        """Return each condition's mean distance from the reference at the end."""
        return {c: float(self.end_distance[method][c].mean()) for c in self.conditions}

    def end_spread(self, condition: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the mean, minimum and maximum end distance of ``condition``'s
        runs, each ``(n_methods,)`` in the order of ``methods``."""
        values = [self.end_distance[m][condition] for m in self.methods]
        mean, low, high = (np.array([f(v) for v in values]) for f in SPREAD)
        return mean, low, high

    def order(self, method: str) -> tuple[str, ...] | None:
        """Return the conditions from the closest to the reference to the
        farthest, or None where two end equally far (within 1e-9)."""
        means = self.mean_end_distance(method)
        ranked = tuple(sorted(self.conditions, key=means.__getitem__))
        gaps = np.diff([means[c] for c in ranked])
        return None if np.any(gaps <= 1e-9) else ranked

    def agrees(self, method: str) -> bool:
        """Return whether ``method`` orders the conditions as the function space."""
        return self.order(method) == self.order(FUNCTION_SPACE)


def compare_trends(
    space: FunctionSpace,
    embeddings: Mapping[str, Embedding],
    run_conditions: Mapping[str, str],
    conditions: Sequence[str] = ("siddo", "disdo"),
    reference: str = "base",
) -> TrendComparison:
    """Compare the end-point distances from ``reference`` in every embedding.

    ``run_conditions`` maps each run of ``space`` to its condition; each of
    ``conditions`` needs at least one run.
    """
    runs = {
        c: [i for i, r in enumerate(space.runs) if run_conditions[r] == c]
        for c in conditions
    }
    empty = [c for c, rows in runs.items() if not rows]
    if empty:
        raise ValueError(f"conditions {empty} have no run in {space.runs}")
    compared = [i for rows in runs.values() for i in rows]
    coords = {FUNCTION_SPACE: space.points}
    coords.update({name: e.coords for name, e in embeddings.items()})
    distances = {
        m: distances_to_reference(c, space, reference) for m, c in coords.items()
    }
    truth = distances[FUNCTION_SPACE][compared].ravel()
    correlation = {
        m: rank_correlation(truth, d[compared].ravel()) for m, d in distances.items()
    }
    end = {
        m: {c: d[rows, -1] for c, rows in runs.items()} for m, d in distances.items()
    }
    return TrendComparison(
        reference, tuple(conditions), tuple(coords), end, correlation
    )


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Return Spearman's correlation of ``a`` and ``b``; NaN if one is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


# Names of the methods in prose, and words for small counts.
METHOD_NAMES = {"spectral": "the spectral embedding"}
COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven")


def describe_agreement(comparison: TrendComparison) -> str:
    """Return a sentence: the trend in function space, whether the runs'
    ranges overlap, and the methods that reproduce it."""
    order = comparison.order(FUNCTION_SPACE)
    means = comparison.mean_end_distance(FUNCTION_SPACE)
    if order is None:
        head = (
            "In the function space itself the conditions end equally far from "
            f"{comparison.reference}"
        )
    else:
        ranked = " < ".join(f"{c.upper()} {means[c]:.2f}" for c in order)
        head = (
            f"In the function space itself the {order[0].upper()} runs end "
            f"closest to {comparison.reference} (mean distance {ranked}, in units "
            "of the points' spread"
        )
        if ranges_overlap(comparison, order):
            head += ", although the ranges over runs overlap)"
        else:
            head += ", and the ranges over runs do not overlap)"
    return f"{head}. {describe_methods(comparison)}."


def describe_methods(comparison: TrendComparison) -> str:
    """Return a clause naming the embeddings that keep the function space's
    order and those that do not."""
    embeddings = [m for m in comparison.methods if m != FUNCTION_SPACE]
    agree = [METHOD_NAMES.get(m, m) for m in embeddings if comparison.agrees(m)]
    disagree = [METHOD_NAMES.get(m, m) for m in embeddings if not comparison.agrees(m)]
    n = len(embeddings)
    count = COUNT_WORDS[n] if n < len(COUNT_WORDS) else str(n)
    if n == 1:
        name = (agree or disagree)[0]
        clause = f"{name} {'agrees' if agree else 'does not agree'} on this order"
    elif not disagree:
        clause = f"all {count} embeddings agree on this order"
    elif not agree:
        clause = f"none of the {count} embeddings shows this order"
    else:
        verb = "agrees" if len(agree) == 1 else "agree"
        negation = "does not" if len(disagree) == 1 else "do not"
        clause = (
            f"{join_names(agree)} {verb} on this order, "
            f"but {join_names(disagree)} {negation}"
        )
    # Method names such as t-SNE keep their case at the start of the sentence.
    if clause.split()[0] in ("all", "none", "the"):
        clause = clause[0].upper() + clause[1:]
    return clause


def ranges_overlap(comparison: TrendComparison, order: Sequence[str]) -> bool:
    """Return whether any run of a closer condition ends beyond a run of the
    next condition, in the function space."""
    ends = comparison.end_distance[FUNCTION_SPACE]
    return any(ends[a].max() >= ends[b].min() for a, b in zip(order, order[1:]))


def join_names(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
