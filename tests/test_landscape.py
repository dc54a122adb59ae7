import numpy as np
import torch
import torch.nn.functional as F

from funcsim_lib.config import LandscapeConfig
from funcsim_lib.landscape import (
    Grid,
    compute_landscapes,
    direction_cosine,
    evaluate_grid,
    random_directions,
)


def test_grid_contains_origin():
    grid = Grid.from_config(LandscapeConfig(n_points=(51, 21)))
    assert 0.0 in grid.alphas and 0.0 in grid.betas
    assert len(grid.alphas) == 51 and len(grid.betas) == 21


def test_filter_normalisation(smoke_study):
    model = smoke_study.model("base")
    d1, _ = random_directions(model, seed=0)
    params = dict(model.named_parameters())
    weight = params["blocks.0.mlp.fc1.weight"].detach()
    np.testing.assert_allclose(
        d1["blocks.0.mlp.fc1.weight"].norm(dim=1), weight.norm(dim=1), rtol=1e-5
    )
    assert torch.count_nonzero(d1["blocks.0.norm1.weight"]) == 0


def test_directions_seeded(smoke_study):
    model = smoke_study.model("base")
    a, _ = random_directions(model, seed=3)
    b, _ = random_directions(model, seed=3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert abs(direction_cosine(*random_directions(model, seed=3))) < 0.2


def test_centre_equals_model_loss_and_model_restored(smoke_study):
    model = smoke_study.model("base").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = smoke_study.data
    d1, d2 = random_directions(model, seed=0)
    grid = Grid.from_config(LandscapeConfig(n_points=(3, 3)))
    loss, error = evaluate_grid(model, data.test_x, data.test_y, d1, d2, grid)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    with torch.inference_mode():
        logits = model(data.test_x).double()
    assert loss[1, 1] == F.cross_entropy(logits, data.test_y).item()
    assert error[1, 1] == (logits.argmax(1) != data.test_y).double().mean().item()
    assert loss[0, 0] != loss[1, 1]


def test_study_landscapes_stored_and_reused(smoke_study):
    config = LandscapeConfig(n_points=(3, 5), runs=("base", "disdo_1"))
    first = compute_landscapes(smoke_study, config)
    second = compute_landscapes(smoke_study, config)
    assert first["base"]["loss"].shape == (3, 5)
    np.testing.assert_array_equal(first["disdo_1"]["loss"], second["disdo_1"]["loss"])
    final = smoke_study.log("base")[-1]
    assert np.isclose(first["base"]["loss"][1, 2], final["test_loss"], rtol=1e-6)
