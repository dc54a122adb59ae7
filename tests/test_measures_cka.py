"""Linear CKA against a direct formula, and features captured with hooks."""

import numpy as np
import pytest
import torch

from funcsim_lib import features, measures
from funcsim_lib.config import ModelConfig
from funcsim_lib.measures import CKAAccumulator, UndefinedMeasureWarning
from funcsim_lib.models import build_model


def gram_cka(x, y):
    """CKA from Gram matrices, HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))."""
    n = len(x)
    centring = np.eye(n) - np.ones((n, n)) / n
    k = centring @ (x @ x.T) @ centring
    l_ = centring @ (y @ y.T) @ centring
    return np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_))


@pytest.fixture
def features_pair():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    y = x @ rng.normal(size=(8, 5)) + 0.5 * rng.normal(size=(60, 5))
    return x, y


def test_linear_cka_matches_gram_formula(features_pair):
    x, y = features_pair
    assert measures.linear_cka(x, y) == pytest.approx(gram_cka(x, y), rel=1e-12)


def test_linear_cka_invariances(features_pair):
    x, y = features_pair
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(8, 8)))
    base = measures.linear_cka(x, y)
    assert measures.linear_cka(x, x) == pytest.approx(1.0, abs=1e-14)
    assert measures.linear_cka(x @ rotation, y) == pytest.approx(base, rel=1e-12)
    assert measures.linear_cka(3.0 * x + 7.0, y) == pytest.approx(base, rel=1e-12)
    assert measures.linear_cka(y, x) == pytest.approx(base, rel=1e-14)


@pytest.mark.parametrize("chunk_size", [1, 7, 59])
def test_linear_cka_chunked_equals_whole(features_pair, chunk_size):
    x, y = features_pair
    # a large offset tests that centring survives the streaming update
    x = x + 1e6
    whole = measures.linear_cka(x, y)
    assert measures.linear_cka(x, y, chunk_size=chunk_size) == pytest.approx(
        whole, rel=1e-10
    )


def test_linear_cka_float32_in_float64(features_pair):
    x, y = features_pair
    got = measures.linear_cka(x.astype(np.float32), y.astype(np.float32))
    expected = gram_cka(x.astype(np.float32).astype(float), y.astype(np.float32))
    assert got == pytest.approx(expected, rel=1e-10)


def test_linear_cka_of_independent_features_is_small():
    rng = np.random.default_rng(2)
    value = measures.linear_cka(rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4)))
    assert value < 0.02


def test_linear_cka_undefined_for_constant_features(features_pair):
    x, _ = features_pair
    with pytest.warns(UndefinedMeasureWarning, match="linear_cka is undefined"):
        assert np.isnan(measures.linear_cka(x, np.ones((60, 3))))


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((5, 2)), np.zeros((6, 2)), r"same number of samples.*\(5, 2\)"),
        (np.zeros(5), np.zeros((5, 2)), r"features_a must have shape.*\(5,\)"),
        (np.array([[np.nan, 1.0]]), np.zeros((1, 2)), "features_a must be finite"),
    ],
)
def test_linear_cka_rejects_bad_features(x, y, message):
    with pytest.raises(ValueError, match=message):
        measures.linear_cka(x, y)


def test_accumulator_rejects_changing_widths():
    accumulator = CKAAccumulator()
    accumulator.update(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="same number of features"):
        accumulator.update(np.ones((3, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="no batch was added"):
        CKAAccumulator().result()


@pytest.fixture(scope="module")
def vit():
    config = ModelConfig(embed_dim=16, depth=2, num_heads=2)
    return build_model(config, 0).eval(), build_model(config, 1).eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(37, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def test_hook_on_final_norm_matches_forward_features(vit, images):
    model = vit[0]
    got = features.capture_features(model, images, "norm", batch_size=10)
    with torch.inference_mode():
        expected = model.forward_features(images)[:, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_last_block_class_token_by_default(vit, images):
    model = vit[0]
    assert features.last_block(model) == "blocks.1"
    got = features.capture_features(model, images)
    with torch.inference_mode():
        tokens = model._pos_embed(model.patch_embed(images))
        expected = model.blocks(model.norm_pre(tokens))[:, 0].numpy()
    assert got.shape == (37, 16)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_hooks_removed_and_batches_agree(vit, images):
    model = vit[0]
    small = features.capture_features(model, images, reduction="mean", batch_size=4)
    large = features.capture_features(model, images, reduction="mean", batch_size=64)
    np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-6)
    assert all(not m._forward_hooks for m in model.modules())


def test_flatten_keeps_every_token(vit, images):
    got = features.capture_features(vit[0], images, reduction="flatten")
    assert got.shape == (37, 17 * 16)


def test_layer_cka_self_is_one(vit, images):
    assert features.layer_cka(vit[0], vit[0], images, batch_size=8) == pytest.approx(
        1.0, abs=1e-12
    )


def test_layer_cka_equals_cka_of_captured_features(vit, images):
    a = features.capture_features(vit[0], images, batch_size=5).astype(float)
    b = features.capture_features(vit[1], images, batch_size=5).astype(float)
    streamed = features.layer_cka(vit[0], vit[1], images, batch_size=5)
    assert streamed == pytest.approx(gram_cka(a, b), rel=1e-10)
    assert streamed < 1.0


def test_bad_layer_and_reduction_rejected(vit, images):
    with pytest.raises(ValueError, match="layer 'blocks.9' is not a submodule"):
        features.capture_features(vit[0], images, "blocks.9")
    with pytest.raises(ValueError, match="reduction must be one of"):
        features.capture_features(vit[0], images, reduction="max")
    with pytest.raises(ValueError, match="has no 'blocks'"):
        features.capture_features(torch.nn.Linear(2, 2), torch.zeros(1, 2))


def test_feature_capture_leaves_autograd_on(vit, images):
    stream = features.iter_features(vit[0], images, batch_size=8)
    next(stream)
    assert torch.is_grad_enabled()
    assert not torch.is_inference_mode_enabled()
    stream.close()
    features.layer_cka(vit[0], vit[1], images, batch_size=8)
    assert torch.is_grad_enabled()
    assert all(not m._forward_hooks for m in vit[0].modules())
    assert all(not m._forward_hooks for m in vit[1].modules())
