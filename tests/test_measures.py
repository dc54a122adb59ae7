import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax as scipy_softmax

from funcsim_lib import measures


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 10)) * 3, rng.normal(size=(50, 10)) * 3


def test_jsd_matches_scipy(logits):
    a, b = logits
    p, q = scipy_softmax(a, axis=1), scipy_softmax(b, axis=1)
    expected = np.mean(jensenshannon(p, q, axis=1) ** 2)
    assert measures.js_divergence(a, b) == pytest.approx(expected, rel=1e-10)


def test_activation_distance_direct(logits):
    a, b = logits
    p, q = scipy_softmax(a, axis=1), scipy_softmax(b, axis=1)
    expected = np.linalg.norm(p - q, axis=1).mean()
    assert measures.activation_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_identical_models_give_extremes(logits):
    a, _ = logits
    assert measures.js_divergence(a, a) == 0.0
    assert measures.activation_distance(a, a) == 0.0
    assert measures.cosine_similarity(a, a) == pytest.approx(1.0)
    assert measures.disagreement(a, a) == 0.0


def test_far_apart_logits_stay_finite():
    a = np.array([[1000.0, -1000.0]])
    b = np.array([[-1000.0, 1000.0]])
    assert measures.js_divergence(a, b) == pytest.approx(np.log(2.0))
    assert np.isfinite(measures.cosine_similarity(a, b))


def test_shape_mismatch_quotes_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 4\)"):
        measures.js_divergence(np.zeros((2, 3)), np.zeros((2, 4)))


def test_nan_rejected():
    with pytest.raises(ValueError, match="finite"):
        measures.js_divergence(np.array([[np.nan, 0.0]]), np.zeros((1, 2)))


def test_pairwise_symmetric_with_zero_diagonal():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 4, 20, 5))
    matrices = measures.pairwise(measures.js_divergence, logits)
    assert matrices.shape == (4, 3, 3)
    np.testing.assert_allclose(matrices, matrices.transpose(0, 2, 1))
    np.testing.assert_array_equal(matrices[:, [0, 1, 2], [0, 1, 2]], 0.0)
    assert measures.pair_values(matrices).shape == (4, 3)
