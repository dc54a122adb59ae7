"""Filter-normalised directions, grids and the distance between landscapes."""

import doctest

import numpy as np
import pytest
import torch

from funcsim_lib.config import LandscapeConfig, ModelConfig
from funcsim_lib.landscape import (
    Grid,
    direction_cosine,
    landscape_distance,
    normalise_filters,
    random_directions,
    tensors_fingerprint,
)
from funcsim_lib.landscape import grid as grid_module
from funcsim_lib.models import build_model

TOKENS = ("pos_embed", "cls_token")


@pytest.fixture(scope="module")
def vit():
    return build_model(ModelConfig(embed_dim=16, depth=2, num_heads=2), 0)


def test_filters_match_weight_norms(vit):
    d1, d2 = random_directions(vit, seed=0)
    for name, param in vit.named_parameters():
        if param.ndim < 2 or name in TOKENS:
            continue
        weights = param.detach().reshape(param.shape[0], -1)
        for direction in (d1, d2):
            filters = direction[name].reshape(param.shape[0], -1)
            np.testing.assert_allclose(
                filters.norm(dim=1), weights.norm(dim=1), rtol=1e-5, err_msg=name
            )


def test_one_dimensional_zero_by_default(vit):
    d1, _ = random_directions(vit, seed=0)
    one_dimensional = [n for n, p in vit.named_parameters() if p.ndim == 1]
    assert one_dimensional
    for name in one_dimensional:
        assert torch.count_nonzero(d1[name]) == 0, name


def test_include_1d_scales_whole_tensor(vit):
    d1, _ = random_directions(vit, seed=0, include_1d=True)
    for name, param in vit.named_parameters():
        if param.ndim == 1 and param.detach().norm() > 0:
            assert torch.isclose(d1[name].norm(), param.detach().norm(), rtol=1e-5)


def test_token_policy_normalises_each_token(vit):
    d1, _ = random_directions(vit, seed=0, embed_policy="token")
    pos = vit.pos_embed.detach().reshape(-1, vit.embed_dim)
    np.testing.assert_allclose(
        d1["pos_embed"].reshape(-1, vit.embed_dim).norm(dim=1),
        pos.norm(dim=1),
        rtol=1e-5,
    )
    assert torch.isclose(d1["cls_token"].norm(), vit.cls_token.detach().norm())


def test_tensor_policy_normalises_whole_tensor(vit):
    d1, _ = random_directions(vit, seed=0, embed_policy="tensor")
    token_norms = d1["pos_embed"].reshape(-1, vit.embed_dim).norm(dim=1)
    pos = vit.pos_embed.detach().reshape(-1, vit.embed_dim)
    assert torch.isclose(d1["pos_embed"].norm(), pos.norm(), rtol=1e-5)
    assert not torch.allclose(token_norms, pos.norm(dim=1), rtol=1e-3)


def test_zero_policy_freezes_embeddings(vit):
    d1, d2 = random_directions(vit, seed=0, embed_policy="zero")
    for name in TOKENS:
        assert torch.count_nonzero(d1[name]) == 0
        assert torch.count_nonzero(d2[name]) == 0
    assert torch.count_nonzero(d1["head.weight"]) > 0


def test_policies_leave_other_parameters_alike(vit):
    token = random_directions(vit, seed=5, embed_policy="token")[0]
    zero = random_directions(vit, seed=5, embed_policy="zero")[0]
    assert torch.equal(
        token["blocks.1.mlp.fc2.weight"], zero["blocks.1.mlp.fc2.weight"]
    )


def test_directions_seeded(vit):
    a1, a2 = random_directions(vit, seed=3)
    b1, b2 = random_directions(vit, seed=3)
    c1, _ = random_directions(vit, seed=4)
    assert tensors_fingerprint(a1) == tensors_fingerprint(b1)
    assert tensors_fingerprint(a2) == tensors_fingerprint(b2)
    assert tensors_fingerprint(a1) != tensors_fingerprint(c1)


def test_directions_leave_model_untouched(vit):
    before = tensors_fingerprint(vit.state_dict())
    random_directions(vit, seed=1, include_1d=True)
    assert tensors_fingerprint(vit.state_dict()) == before


def test_cosine_matches_flat_vectors(vit):
    d1, d2 = random_directions(vit, seed=3)
    flat1 = torch.cat([d1[k].reshape(-1) for k in d1]).double()
    flat2 = torch.cat([d2[k].reshape(-1) for k in d1]).double()
    expected = float(flat1 @ flat2 / (flat1.norm() * flat2.norm()))
    assert direction_cosine(d1, d2) == pytest.approx(expected, rel=1e-9)
    # Independent Gaussian directions in n dimensions: |cosine| ~ 1 / sqrt(n).
    assert abs(direction_cosine(d1, d2)) < 5 / flat1.numel() ** 0.5


def test_cosine_rejects_other_names():
    with pytest.raises(ValueError, match="same parameter names"):
        direction_cosine({"a": torch.ones(2)}, {"b": torch.ones(2)})


def test_zero_weight_filter_gives_zero():
    weights = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    noise = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    out = normalise_filters("layer.weight", noise, weights)
    assert torch.equal(out[0], torch.zeros(2))
    assert torch.isclose(out[1].norm(), torch.tensor(5.0))


def test_bad_arguments_rejected(vit):
    with pytest.raises(ValueError, match="embed_policy must be one of"):
        random_directions(vit, seed=0, embed_policy="rows")
    with pytest.raises(TypeError, match="seed must be an int"):
        random_directions(vit, seed=1.5)
    with pytest.raises(ValueError, match="same shape"):
        normalise_filters("w", torch.ones(2, 2), torch.ones(2, 3))


def test_fingerprint_sees_one_bit():
    a = {"w": torch.ones(3)}
    b = {"w": torch.ones(3)}
    b["w"][1] = torch.nextafter(torch.tensor(1.0), torch.tensor(2.0))
    assert tensors_fingerprint(a) != tensors_fingerprint(b)
    assert tensors_fingerprint(a) == tensors_fingerprint({"w": torch.ones(3)})


def test_grid_contains_origin():
    grid = Grid.from_config(LandscapeConfig(n_points=(51, 21)))
    assert grid.shape == (51, 21)
    assert grid.index_of_origin() == (25, 10)
    assert grid.alphas[0] == -1.0
    assert grid.alphas[-1] == 1.0


@pytest.mark.parametrize(
    "n_points, span, origin",
    [
        ((99, 197), (-1.0, 1.0, -1.0, 1.0), (49, 98)),
        ((11, 5), (-0.3, 0.7, -2.0, 2.0), (3, 2)),
        ((3, 4), (0.0, 1.0, -1.0, 2.0), (0, 1)),
    ],
)
def test_grid_origin_exact_after_rounding(n_points, span, origin):
    # np.linspace(-1, 1, 99)[49] is 1.1e-16, not 0.
    grid = Grid.from_config(LandscapeConfig(n_points=n_points, span=span))
    assert grid.index_of_origin() == origin
    assert grid.alphas[origin[0]] == 0.0
    assert grid.betas[origin[1]] == 0.0
    expected_alphas = np.linspace(*span[:2], n_points[0])
    np.testing.assert_allclose(grid.alphas, expected_alphas, rtol=0, atol=1e-15)
    expected_betas = np.linspace(*span[2:], n_points[1])
    np.testing.assert_allclose(grid.betas, expected_betas, rtol=0, atol=1e-15)


def test_grid_without_origin():
    grid = Grid.from_span((4, 4), (-1.0, 1.0, -1.0, 1.0))
    assert grid.index_of_origin() is None


def test_grid_row_coefficients():
    grid = Grid.from_span((3, 2), (-1.0, 1.0, 0.0, 2.0))
    np.testing.assert_array_equal(grid.coefficients(2), [[1.0, 0.0], [1.0, 2.0]])
    with pytest.raises(IndexError):
        grid.coefficients(3)


def test_config_validation():
    with pytest.raises(ValueError, match="landscape.n_points"):
        LandscapeConfig(n_points=(0, 5))
    with pytest.raises(ValueError, match="landscape.span"):
        LandscapeConfig(span=(1.0, -1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="landscape.embed_policy"):
        LandscapeConfig(embed_policy="rows")
    with pytest.raises(ValueError, match="landscape.line_span"):
        LandscapeConfig(line_span=(1.0, 0.0))


def test_distance_skips_non_finite():
    a = np.array([[0.0, 1.0], [np.nan, 2.0]])
    b = np.array([[3.0, 1.0], [1.0, np.inf]])
    assert landscape_distance(a, b) == 3.0
    assert np.isnan(landscape_distance(np.full(2, np.nan), np.zeros(2)))
    with pytest.raises(ValueError, match="same shape"):
        landscape_distance(np.zeros(2), np.zeros(3))


def test_grid_doctests():
    assert doctest.testmod(grid_module).failed == 0
