"""Each pair and group measure against an independent reference implementation."""

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax as scipy_softmax
from sklearn.metrics import cohen_kappa_score

from funcsim_lib import measures
from funcsim_lib.measures import kernels
from funcsim_lib.measures.outputs import from_logits


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 50, 10)) * 3, rng.normal(size=(4, 50, 10)) * 3


@pytest.fixture
def labels():
    return np.random.default_rng(1).integers(0, 10, 50)


def probabilities(x):
    return scipy_softmax(np.asarray(x, dtype=np.float64), axis=-1)


def test_softmax_matches_scipy(logits):
    np.testing.assert_allclose(
        measures.softmax(logits[0]), probabilities(logits[0]), rtol=1e-14
    )


@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_jsd_matches_scipy(scale):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 3, 200, 7)) * scale
    p, q = probabilities(a), probabilities(b)
    expected = np.mean(jensenshannon(p, q, axis=-1) ** 2, axis=-1)
    np.testing.assert_allclose(measures.js_divergence(a, b), expected, rtol=1e-10)


def test_jsd_in_bits_matches_scipy_base_2(logits):
    a, b = logits
    p, q = probabilities(a), probabilities(b)
    expected = np.mean(jensenshannon(p, q, axis=-1, base=2) ** 2, axis=-1)
    got = measures.js_divergence(a, b, unit="bits")
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_jsd_of_probabilities_matches_scipy_with_zeros():
    p = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
    q = np.array([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
    expected = np.mean(jensenshannon(p, q, axis=1) ** 2)
    got = measures.js_divergence(p, q, inputs="probabilities")
    assert got == pytest.approx(expected, rel=1e-12)


def mp_jsd_row(x, y):
    """The JSD of one row of logits with 60 significant digits."""
    mpmath.mp.dps = 60
    x = [mpmath.mpf(float(v)) for v in x]
    y = [mpmath.mpf(float(v)) for v in y]
    norm_x = mpmath.log(sum(mpmath.exp(v) for v in x))
    norm_y = mpmath.log(sum(mpmath.exp(v) for v in y))
    total = mpmath.mpf(0)
    for vx, vy in zip(x, y):
        p, q = mpmath.exp(vx - norm_x), mpmath.exp(vy - norm_y)
        m = (p + q) / 2
        total += (p * mpmath.log(p / m) + q * mpmath.log(q / m)) / 2
    return float(total)


@pytest.mark.parametrize("step", [1e-7, 1e-4, 1e-1, 3.0])
def test_jsd_accurate_for_near_identical_float32_rows(step):
    rng = np.random.default_rng(3)
    a = (rng.normal(size=(4, 10)) * 4).astype(np.float32)
    b = (a + step * rng.normal(size=a.shape)).astype(np.float32)
    got = [float(measures.js_divergence(a[i : i + 1], b[i : i + 1])) for i in range(4)]
    expected = [mp_jsd_row(a[i], b[i]) for i in range(4)]
    # Rows one float32 step apart differ by about 1e-7 relative, so p - q
    # keeps only about 8 of the 16 digits of the float64 softmax.
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_jsd_mixed_close_and_far_rows():
    # One block holds both kinds, so the entropy form and the term-by-term
    # form are combined sample by sample.
    rng = np.random.default_rng(5)
    a = (rng.normal(size=(12, 10)) * 3).astype(np.float32)
    b = (rng.normal(size=a.shape) * 3).astype(np.float32)
    b[::2] = a[::2] + np.float32(1e-6) * rng.normal(size=(6, 10)).astype(np.float32)
    expected = np.mean([mp_jsd_row(a[i], b[i]) for i in range(len(a))])
    assert float(measures.js_divergence(a, b)) == pytest.approx(expected, rel=1e-10)


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, (2, 6, 5), elements=st.floats(-30, 30)),
)
def test_jsd_forms_agree_pinsker_holds(logits):
    a = from_logits(logits[0][None])
    b = from_logits(logits[1][None])
    distance = kernels.l2_rows(a.probs, b.probs)
    terms = kernels.js_divergence_terms(
        a.rows("log_probs", a.probs.shape, torch.ones(1, 6, dtype=torch.bool)),
        a.rows("probs", a.probs.shape, torch.ones(1, 6, dtype=torch.bool)),
        b.rows("log_probs", b.probs.shape, torch.ones(1, 6, dtype=torch.bool)),
        b.rows("probs", b.probs.shape, torch.ones(1, 6, dtype=torch.bool)),
    )
    # The lower bound that decides which samples are recomputed term by term.
    assert torch.all(terms >= distance.ravel() ** 2 / 8 * (1 - 1e-9) - 1e-300)
    # The entropy form, on samples above the threshold, agrees to 1e-9.
    far = terms > kernels.JSD_EXACT_BELOW
    a.prepare_entropy_terms()
    b.prepare_entropy_terms()
    s_log_s = (a.floored_probs + b.floored_probs).log() * (
        a.floored_probs + b.floored_probs
    )
    entropy_form = (a.neg_entropy + b.neg_entropy - s_log_s.sum(-2)) / 2 + math.log(2)
    np.testing.assert_allclose(
        entropy_form.ravel()[far].numpy(), terms[far].numpy(), rtol=1e-9
    )


def test_jsd_far_apart_logits_reach_ln2():
    a = np.array([[1000.0, -1000.0], [1e30, -1e30]])
    b = np.array([[-1000.0, 1000.0], [-1e30, 1e30]])
    assert measures.js_divergence(a, b) == pytest.approx(math.log(2.0), rel=1e-12)


def test_cohens_kappa_matches_sklearn():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 5, 80, 4))
    b[:, :40] = a[:, :40]  # some agreement beyond chance
    expected = [
        cohen_kappa_score(a[e].argmax(-1), b[e].argmax(-1)) for e in range(len(a))
    ]
    np.testing.assert_allclose(measures.cohens_kappa(a, b), expected, rtol=1e-12)


def test_cosine_matches_torch(logits):
    a, b = logits
    p, q = torch.from_numpy(probabilities(a)), torch.from_numpy(probabilities(b))
    expected = torch.nn.functional.cosine_similarity(p, q, dim=-1).mean(-1).numpy()
    np.testing.assert_allclose(measures.cosine_similarity(a, b), expected, rtol=1e-13)


def test_activation_distance_direct(logits):
    a, b = logits
    expected = np.linalg.norm(probabilities(a) - probabilities(b), axis=-1).mean(-1)
    np.testing.assert_allclose(measures.activation_distance(a, b), expected, rtol=1e-13)


def test_prediction_difference_norm_is_half(logits):
    a, b = logits
    np.testing.assert_allclose(
        measures.prediction_difference_norm(a, b),
        measures.activation_distance(a, b) / 2,
        rtol=1e-15,
    )


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_surrogate_churn_direct(logits, alpha):
    a, b = logits
    p, q = probabilities(a), probabilities(b)
    v = (p / p.max(-1, keepdims=True)) ** alpha
    w = (q / q.max(-1, keepdims=True)) ** alpha
    expected = 0.5 * np.abs(v - w).sum(-1).mean(-1)
    got = measures.surrogate_churn(a, b, alpha=alpha)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_surrogate_churn_approaches_disagreement(logits):
    a, b = logits
    got = measures.surrogate_churn(a, b, alpha=1e4)
    np.testing.assert_allclose(got, measures.disagreement(a, b), atol=1e-6)


def test_label_measures_direct(logits, labels):
    a, b = logits
    pred_a, pred_b = a.argmax(-1), b.argmax(-1)
    dis = (pred_a != pred_b).mean(-1)
    err_a, err_b = (pred_a != labels).mean(-1), (pred_b != labels).mean(-1)
    lowest, highest = np.abs(err_a - err_b), np.minimum(err_a + err_b, 1)
    np.testing.assert_allclose(measures.disagreement(a, b), dis)
    np.testing.assert_allclose(
        measures.error_corrected_disagreement(a, b, labels), dis / err_a
    )
    np.testing.assert_allclose(
        measures.error_corrected_disagreement(b, a, labels), dis / err_b
    )
    np.testing.assert_allclose(
        measures.min_max_normalised_disagreement(a, b, labels),
        (dis - lowest) / (highest - lowest),
    )
    np.testing.assert_allclose(
        measures.accuracy_difference(a, b, labels), np.abs(err_a - err_b)
    )


def test_group_measures_direct():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(4, 3, 60, 3))
    predictions = logits.argmax(-1)
    pairs = [(i, j) for i in range(4) for j in range(4) if i < j]
    conflict = np.zeros((3, 60), bool)
    for i, j in pairs:
        conflict |= predictions[i] != predictions[j]
    rates = [(predictions[i] != predictions[j]).mean(-1) for i, j in pairs]
    np.testing.assert_allclose(measures.ambiguity(logits), conflict.mean(-1))
    np.testing.assert_allclose(measures.discrepancy(logits), np.max(rates, axis=0))
    to_first = (predictions[1:] != predictions[0]).any(axis=0).mean(-1)
    np.testing.assert_allclose(measures.ambiguity(logits, reference=0), to_first)
    against_first = [(predictions[k] != predictions[0]).mean(-1) for k in (1, 2, 3)]
    np.testing.assert_allclose(
        measures.discrepancy(logits, reference=0), np.max(against_first, axis=0)
    )


def test_group_measures_of_copies_are_zero(logits):
    stack = np.stack([logits[0]] * 3)
    assert np.all(measures.ambiguity(stack) == 0)
    assert np.all(measures.discrepancy(stack) == 0)


def test_leading_dimensions_kept(logits):
    a, b = logits
    assert measures.js_divergence(a, b).shape == (4,)
    assert np.ndim(measures.js_divergence(a[0], b[0])) == 0
    stacked = measures.js_divergence(a.reshape(2, 2, 50, 10), b.reshape(2, 2, 50, 10))
    np.testing.assert_allclose(stacked.ravel(), measures.js_divergence(a, b))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtypes_accepted(logits, dtype):
    a, b = (x.astype(dtype) for x in logits)
    value = measures.js_divergence(a, b)
    assert np.all(np.isfinite(value))


def test_exact_zero_probabilities_stay_finite():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    q = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    for name in measures.PAIR_OUTPUT_MEASURES:
        function = measures.REGISTRY[name].function
        if "ground truth" in measures.REGISTRY[name].reads:
            value = function(p, q, np.array([1, 0]), inputs="probabilities")
        else:
            value = function(p, q, inputs="probabilities")
        assert np.isfinite(value), name


def test_probability_and_logit_inputs_agree(logits):
    a, b = logits
    p, q = probabilities(a), probabilities(b)
    for name in ("js_divergence", "cosine_similarity", "surrogate_churn"):
        function = measures.REGISTRY[name].function
        np.testing.assert_allclose(
            function(p, q, inputs="probabilities"), function(a, b), rtol=1e-10
        )
