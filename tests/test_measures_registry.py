"""Properties declared in the registry, checked for every measure it lists."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from funcsim_lib import measures
from funcsim_lib.measures import REGISTRY, UndefinedMeasureWarning

PAIR = [name for name, m in REGISTRY.items() if m.arity == "pair"]
GROUP = [name for name, m in REGISTRY.items() if m.arity == "group"]
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def outputs(draw, n_models=2):
    """Logits of ``n_models`` models on the same samples, and true labels."""
    n_samples = draw(st.integers(1, 12))
    n_classes = draw(st.integers(2, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e4]))
    elements = st.floats(-1, 1, width=32 if dtype == np.float32 else 64)
    shape = (n_models, n_samples, n_classes)
    logits = draw(arrays(dtype, shape, elements=elements)) * dtype(scale)
    if n_models > 1 and draw(st.booleans()):
        # near-identical models: one float32 step or less apart
        logits[1] = logits[0] * dtype(1 + 1e-7)
    labels = draw(
        arrays(np.int64, (n_samples,), elements=st.integers(0, n_classes - 1))
    )
    return logits, labels


def call(name, a, b, labels):
    function = REGISTRY[name].function
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMeasureWarning)
        if "ground truth" in REGISTRY[name].reads:
            return function(a, b, labels)
        return function(a, b)


def test_registry_declares_every_public_pair_measure():
    assert set(PAIR) == set(measures.PAIR_OUTPUT_MEASURES)
    for name, entry in REGISTRY.items():
        assert getattr(measures, name) is entry.function
        assert entry.function.__doc__ and ">>>" in entry.function.__doc__


@pytest.mark.parametrize("name", PAIR)
@FAST
@given(data=outputs())
def test_values_inside_declared_range(name, data):
    (a, b), labels = data
    value = call(name, a, b, labels)
    low, high = REGISTRY[name].bounds(a.shape[-1])
    if not np.isnan(value):
        assert low <= value <= high


@pytest.mark.parametrize("name", [n for n in PAIR if REGISTRY[n].symmetric])
@FAST
@given(data=outputs())
def test_symmetric_where_declared(name, data):
    (a, b), labels = data
    np.testing.assert_allclose(
        call(name, a, b, labels), call(name, b, a, labels), rtol=1e-12, atol=1e-15
    )


def test_error_corrected_disagreement_is_asymmetric():
    labels = np.array([0, 0, 0, 0])
    a = np.eye(2)[[0, 1, 1, 0]] * 3.0  # error rate 1/2
    b = np.eye(2)[[0, 0, 0, 1]] * 3.0  # error rate 1/4; disagreement 3/4
    assert measures.error_corrected_disagreement(a, b, labels) == 1.5
    assert measures.error_corrected_disagreement(b, a, labels) == 3.0


@pytest.mark.parametrize("name", PAIR)
@FAST
@given(data=outputs(n_models=1))
def test_identical_models_give_the_extreme_value(name, data):
    (a,), labels = data
    value = call(name, a, a.copy(), labels)
    if not np.isnan(value):
        assert value == pytest.approx(REGISTRY[name].identity, abs=1e-12)


@pytest.mark.parametrize("name", GROUP)
@FAST
@given(data=outputs(n_models=3))
def test_group_measures_in_range_and_order_free(name, data):
    logits, _ = data
    function = REGISTRY[name].function
    value = function(logits)
    assert 0.0 <= value <= 1.0
    assert function(logits[::-1]) == value
    assert function(np.stack([logits[0]] * 3)) == REGISTRY[name].identity


@FAST
@given(data=outputs(n_models=3))
def test_discrepancy_never_exceeds_ambiguity(data):
    logits, _ = data
    assert measures.discrepancy(logits) <= measures.ambiguity(logits)


@pytest.mark.parametrize("chunk_size", [1, 3, 7])
@FAST
@given(data=outputs(n_models=3))
def test_chunked_equals_whole(chunk_size, data):
    logits, labels = data
    stacked = logits[:, None]  # one epoch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMeasureWarning)
        whole = measures.pairwise_measures(stacked, labels=labels)
        chunked = measures.pairwise_measures(
            stacked, labels=labels, chunk_size=chunk_size
        )
    for name in PAIR:
        np.testing.assert_allclose(
            chunked[name], whole[name], rtol=1e-12, atol=1e-15, err_msg=name
        )


def test_bounds_of_churn_scale_with_classes():
    assert REGISTRY["surrogate_churn"].bounds(10) == (0.0, 5.0)
    assert REGISTRY["js_divergence"].bounds(10) == (0.0, np.log(2.0))


def test_get_measure_by_name_function_and_entry():
    entry = REGISTRY["js_divergence"]
    assert measures.get_measure("js_divergence") is entry
    assert measures.get_measure(measures.js_divergence) is entry
    assert measures.get_measure(entry) is entry
    with pytest.raises(ValueError, match="unknown measure 'jsd'"):
        measures.get_measure("jsd")
