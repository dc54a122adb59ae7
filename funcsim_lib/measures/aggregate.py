"""Measures over many models and epochs: pairwise matrices, cross-epoch matrices.

A registered pair measure is computed by the engine in one pass over the
outputs; any other callable ``measure(logits_a, logits_b)`` is called once per
pair, as a reference and for measures outside the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from funcsim_lib.measures.engine import PairStatistics, pair_statistics
from funcsim_lib.measures.registry import PAIR_OUTPUT_MEASURES, REGISTRY, Measure

# Per-sample value of each summed statistic for a model paired with itself.
IDENTITY_SUMS = {"activation": 0.0, "cosine": 1.0, "jsd": 0.0, "churn": 0.0}

MeasureLike = str | Callable | Measure


def _registered(measure: MeasureLike) -> Measure | None:
    if isinstance(measure, Measure):
        return measure
    if isinstance(measure, str):
        if measure not in REGISTRY:
            raise ValueError(
                f"unknown measure {measure!r}; expected one of {sorted(REGISTRY)}"
            )
        entry = REGISTRY[measure]
    else:
        entry = next((m for m in REGISTRY.values() if m.function is measure), None)
        if entry is None:
            return None
    if entry.finish is None:
        raise ValueError(
            f"{entry.name} is a {entry.arity} measure, not a measure of two "
            "models' outputs; call it directly"
        )
    return entry


def _check_stack(name: str, logits: object, ndim: int, shape_text: str) -> np.ndarray:
    array = np.asarray(logits)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_text}, got {array.shape}")
    return array


def _expand(stats: PairStatistics, n_models: int) -> PairStatistics:
    """Return the statistics of every ordered pair, the diagonal included.

    The engine computes each unordered pair once; the counts and sums of
    (j, i) equal those of (i, j), and a model paired with itself disagrees
    nowhere and has the identity sums.
    """
    rows, cols = np.meshgrid(np.arange(n_models), np.arange(n_models), indexing="ij")
    full = np.stack([rows.ravel(), cols.ravel()], axis=1)
    column = np.full((n_models, n_models), -1)
    for k, (i, j) in enumerate(stats.pairs):
        column[i, j] = column[j, i] = k
    index = column.ravel()
    diagonal = index < 0

    def gather(values: np.ndarray, fill: float) -> np.ndarray:
        out = values[:, np.where(diagonal, 0, index)]
        out[:, diagonal] = fill
        return out

    expanded = PairStatistics(
        stats.n_samples,
        stats.n_classes,
        full,
        errors=stats.errors,
        histograms=stats.histograms,
    )
    if stats.disagreements is not None:
        expanded.disagreements = gather(stats.disagreements, 0)
    for name, values in stats.sums.items():
        expanded.sums[name] = gather(values, IDENTITY_SUMS[name] * stats.n_samples)
    return expanded


def pairwise_measures(
    logits: np.ndarray,
    measures: Iterable[MeasureLike] | None = None,
    *,
    labels: np.ndarray | None = None,
    inputs: str = "logits",
    alpha: float = 1.0,
    unit: str = "nats",
    chunk_size: int | None = None,
    workers: int | None = 1,
) -> dict[str, np.ndarray]:
    """Compute several measures between every pair of models, in one pass.

    Parameters
    ----------
    logits
        ``(n_models, n_epochs, n_samples, n_classes)``.
    measures
        Names or functions of registered pair measures; None: all of them
        (``labels`` is then required).
    labels
        ``(n_samples,)`` true classes, for measures that read the ground truth.
    alpha, unit
        The surrogate churn's exponent and the JS divergence's unit.
    chunk_size, workers
        Samples per block and threads; see ``engine.pair_statistics``.

    Returns
    -------
    Measure name -> ``(n_epochs, n_models, n_models)``; entry ``[e, i, j]``
    is the measure of model ``i`` against model ``j`` at epoch ``e``.
    """
    logits = _check_stack(
        "logits", logits, 4, "(n_models, n_epochs, n_samples, n_classes)"
    )
    chosen = [_registered(m) for m in (measures or PAIR_OUTPUT_MEASURES)]
    if any(m is None for m in chosen):
        raise ValueError("pairwise_measures takes registered measures only")
    n_models = logits.shape[0]
    if n_models < 2:
        raise ValueError(
            "logits must hold at least 2 models to compare, "
            f"got shape {logits.shape} with {n_models}"
        )
    pairs = np.array(
        [(i, j) for i in range(n_models) for j in range(i + 1, n_models)], np.int64
    ).reshape(-1, 2)
    needs = set().union(*(m.needs for m in chosen))
    stats = pair_statistics(
        list(logits),
        pairs,
        needs,
        names=[f"logits[{k}]" for k in range(n_models)],
        labels=labels,
        inputs=inputs,
        alpha=alpha,
        chunk_size=chunk_size,
        workers=workers,
    )
    expanded = _expand(stats, n_models)
    shape = (logits.shape[1], n_models, n_models)
    result = {}
    for m in chosen:
        options = {"unit": unit} if m.name == "js_divergence" else {}
        result[m.name] = m.finish(expanded, **options).reshape(shape)
    return result


def pairwise(measure: MeasureLike, logits: np.ndarray, **options: object) -> np.ndarray:
    """Return ``measure`` between every pair of models at every epoch.

    Parameters
    ----------
    measure
        A registered pair measure (name, function or entry), or any callable
        ``measure(logits_a, logits_b) -> (n_epochs,)``, which is then called
        for every ordered pair.
    logits
        ``(n_models, n_epochs, n_samples, n_classes)``.
    **options
        Passed on to ``pairwise_measures`` (``labels``, ``alpha``, ``unit``,
        ``chunk_size``, ``workers``, ``inputs``).

    Returns
    -------
    ``(n_epochs, n_models, n_models)``; entry ``[e, i, j]`` is the measure of
    model ``i`` against model ``j`` at epoch ``e``.

    >>> rng = np.random.default_rng(0)
    >>> from funcsim_lib.measures import js_divergence
    >>> pairwise(js_divergence, rng.normal(size=(3, 2, 50, 4))).shape
    (2, 3, 3)
    """
    entry = _registered(measure)
    if entry is not None:
        return pairwise_measures(logits, [entry], **options)[entry.name]
    logits = _check_stack(
        "logits", logits, 4, "(n_models, n_epochs, n_samples, n_classes)"
    )
    n_models = logits.shape[0]
    out = np.zeros((logits.shape[1], n_models, n_models))
    for i in range(n_models):
        for j in range(n_models):
            out[:, i, j] = measure(logits[i], logits[j], **options)
    return out


def _between(
    measure: MeasureLike,
    models: list[np.ndarray],
    names: list[str],
    pairs: np.ndarray,
    options: dict,
) -> np.ndarray | None:
    """Compute a registered measure for ``pairs``; None for other callables."""
    entry = _registered(measure)
    if entry is None:
        return None
    unit = options.pop("unit", "nats")
    stats = pair_statistics(models, pairs, set(entry.needs), names=names, **options)
    finish_options = {"unit": unit} if entry.name == "js_divergence" else {}
    return entry.finish(stats, **finish_options)


def cross_epochs(
    measure: MeasureLike,
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    **options: object,
) -> np.ndarray:
    """Return ``measure`` between every epoch of model A and every epoch of B.

    ``logits_a`` is ``(n_epochs_a, n_samples, n_classes)`` and ``logits_b``
    ``(n_epochs_b, n_samples, n_classes)``; entry ``[i, j]`` of the result
    ``(n_epochs_a, n_epochs_b)`` is the measure of epoch ``i`` of A against
    epoch ``j`` of B. ``options`` as for ``pairwise``.

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 4, 30, 3))
    >>> cross_epochs("disagreement", a, b).shape
    (4, 4)
    """
    logits_a = np.asarray(logits_a)
    logits_b = np.asarray(logits_b)
    if (
        logits_a.ndim != 3
        or logits_b.ndim != 3
        or logits_a.shape[1:] != logits_b.shape[1:]
    ):
        raise ValueError(
            "logits_a and logits_b must be (n_epochs, n_samples, n_classes) with "
            f"the same samples and classes, got {logits_a.shape} and {logits_b.shape}"
        )
    n_a, n_b = len(logits_a), len(logits_b)
    models = [logits_a[i : i + 1] for i in range(n_a)]
    models += [logits_b[j : j + 1] for j in range(n_b)]
    names = [f"logits_a[{i}]" for i in range(n_a)] + [
        f"logits_b[{j}]" for j in range(n_b)
    ]
    pairs = np.array([(i, n_a + j) for i in range(n_a) for j in range(n_b)])
    values = _between(measure, models, names, pairs, dict(options))
    if values is not None:
        return values.reshape(n_a, n_b)
    rows = [
        measure(np.broadcast_to(epoch, logits_b.shape), logits_b, **options)
        for epoch in logits_a
    ]
    return np.stack(rows)


def against_reference(
    measure: MeasureLike,
    logits: np.ndarray,
    reference: np.ndarray,
    **options: object,
) -> np.ndarray:
    """Return ``measure`` of each model against one reference model, per epoch.

    ``logits`` is ``(n_models, n_epochs, n_samples, n_classes)`` and
    ``reference`` is ``(n_epochs, n_samples, n_classes)``; the result is
    ``(n_models, n_epochs)``, the measure of each model against the
    reference at the same epoch. ``options`` as for ``pairwise``.
    """
    logits = np.asarray(logits)
    reference = np.asarray(reference)
    if logits.ndim != 4 or logits.shape[1:] != reference.shape:
        raise ValueError(
            "logits must be (n_models, *reference.shape); got "
            f"{logits.shape} and reference {reference.shape}"
        )
    n_models = len(logits)
    models = list(logits) + [reference]
    names = [f"logits[{k}]" for k in range(n_models)] + ["reference"]
    pairs = np.array([(k, n_models) for k in range(n_models)])
    values = _between(measure, models, names, pairs, dict(options))
    if values is not None:
        return values.T
    return np.stack([measure(m, reference, **options) for m in logits])
