"""Invalid input and undefined values: messages and the NaN policy."""

import warnings

import numpy as np
import pytest

from funcsim_lib import measures
from funcsim_lib.measures import UndefinedMeasureWarning


@pytest.mark.parametrize(
    "a, b, error, message",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), ValueError, r"\(2, 3\) and \(2, 4\)"),
        (np.zeros((0, 3)), np.zeros((0, 3)), ValueError, r"n_samples >= 1.*\(0, 3\)"),
        (np.zeros((2, 1)), np.zeros((2, 1)), ValueError, r"n_classes >= 2.*\(2, 1\)"),
        (np.zeros(3), np.zeros(3), ValueError, r"logits_a must have shape.*\(3,\)"),
        (np.zeros((2, 3), int), np.zeros((2, 3)), TypeError, "logits_a.*dtype int64"),
        (
            np.zeros((2, 3)),
            np.array([[0.0, np.nan, 0.0], [0, 0, 0]]),
            ValueError,
            r"logits_b must be finite, got nan at index \(0, 1\)",
        ),
        (
            np.array([[0.0, np.inf, 0.0]]),
            np.zeros((1, 3)),
            ValueError,
            r"logits_a must be finite, got inf",
        ),
    ],
)
def test_invalid_logits_rejected(a, b, error, message):
    with pytest.raises(error, match=message):
        measures.js_divergence(a, b)


@pytest.mark.parametrize(
    "p, message",
    [
        (np.array([[0.5, 0.4]]), r"rows must sum to 1.*row \(0,\) sums to 0.9"),
        (np.array([[1.5, -0.5]]), r"probabilities in \[0, 1\], got 1.5"),
    ],
)
def test_rows_that_are_not_distributions_rejected(p, message):
    q = np.array([[0.5, 0.5]])
    with pytest.raises(ValueError, match=message):
        measures.js_divergence(p, q, inputs="probabilities")


def test_float32_softmax_rows_accepted_as_distributions():
    logits = np.random.default_rng(0).normal(size=(100, 10)) * 5
    p = measures.softmax(logits).astype(np.float32)
    assert measures.js_divergence(p, p, inputs="probabilities") == 0


@pytest.mark.parametrize(
    "labels, error, message",
    [
        (None, ValueError, "labels is required"),
        (np.zeros(3, int), ValueError, r"shape \(n_samples,\) = \(2,\), got \(3,\)"),
        (np.array([0, 5]), ValueError, r"class indices in \[0, 3\), got values"),
        (np.array([0.0, 1.0]), TypeError, "labels must be an integer array"),
    ],
)
def test_invalid_labels_rejected(labels, error, message):
    a = np.zeros((2, 3))
    with pytest.raises(error, match=message):
        measures.error_corrected_disagreement(a, a, labels)


def test_invalid_options_rejected():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="unit must be 'nats' or 'bits', got 'bytes'"):
        measures.js_divergence(a, a, unit="bytes")
    with pytest.raises(ValueError, match="alpha must be a positive finite number"):
        measures.surrogate_churn(a, a, alpha=0.0)
    with pytest.raises(ValueError, match="inputs must be 'logits' or 'probabilities'"):
        measures.disagreement(a, a, inputs="scores")


def test_group_measures_reject_bad_input():
    with pytest.raises(ValueError, match=r"n_models >= 2.*\(1, 4, 3\)"):
        measures.ambiguity(np.zeros((1, 4, 3)))
    with pytest.raises(
        ValueError, match=r"reference must be a model index in \[0, 2\)"
    ):
        measures.discrepancy(np.zeros((2, 4, 3)), reference=2)


def one_hot_logits(classes, n_classes=3):
    return np.eye(n_classes)[np.asarray(classes)] * 5.0


def test_kappa_undefined_when_both_predict_one_class():
    a = one_hot_logits([0, 0, 0])
    with pytest.warns(UndefinedMeasureWarning, match="cohens_kappa is undefined"):
        assert np.isnan(measures.cohens_kappa(a, a))


def test_kappa_defined_when_one_model_varies():
    a, b = one_hot_logits([0, 0, 0]), one_hot_logits([0, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert measures.cohens_kappa(a, b) == 0.0


def test_error_corrected_undefined_for_a_perfect_compared_model():
    labels = np.array([0, 1, 2])
    perfect, wrong = one_hot_logits([0, 1, 2]), one_hot_logits([0, 1, 1])
    with pytest.warns(UndefinedMeasureWarning, match="makes no error"):
        assert np.isnan(measures.error_corrected_disagreement(perfect, wrong, labels))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = measures.error_corrected_disagreement(wrong, perfect, labels)
    assert value == 1.0


def test_min_max_undefined_when_a_model_is_perfect():
    labels = np.array([0, 1, 2])
    perfect, wrong = one_hot_logits([0, 1, 2]), one_hot_logits([0, 1, 1])
    for a, b in ((perfect, wrong), (wrong, perfect)):
        with pytest.warns(UndefinedMeasureWarning, match="min_max_normalised"):
            assert np.isnan(measures.min_max_normalised_disagreement(a, b, labels))


def test_undefined_values_counted_in_the_warning():
    a = np.stack([one_hot_logits([0, 0]), one_hot_logits([0, 1])])
    with pytest.warns(UndefinedMeasureWarning, match="for 1 of 2 values"):
        values = measures.cohens_kappa(a, a)
    assert np.isnan(values[0])
    assert values[1] == 1.0
