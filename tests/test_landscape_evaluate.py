"""Loss and error at points of a plane: the batched ViT forward against timm."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from funcsim_lib.config import LandscapeConfig, ModelConfig
from funcsim_lib.landscape import (
    Grid,
    Plane,
    evaluate_grid,
    evaluate_plane,
    make_evaluator,
    ops,
    random_directions,
    tensors_fingerprint,
    unsupported_reason,
)
from funcsim_lib.landscape import vit as vit_module
from funcsim_lib.landscape.tasks import one_thread
from funcsim_lib.models import build_model

POINTS = np.array([[0.0, 0.0], [0.3, -0.2], [-1.0, 1.0], [0.05, 0.7]])


@pytest.fixture(autouse=True)
def single_thread():
    # The tiny models run faster on one thread, the more so on a busy machine.
    with one_thread():
        yield


def relative_error(value, reference):
    return np.max(np.abs(value - reference) / np.abs(reference))


@pytest.fixture(scope="module")
def digits_like():
    """A ViT of the digits profile's shape with its initial weights."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 8, 8, generator=generator)
    y = torch.randint(0, 10, (40,), generator=generator)
    return build_model(ModelConfig(), 0), x, y


def plane_of(model, **options):
    return Plane.around(model, *random_directions(model, seed=1, **options))


def test_fast_forward_matches_timm_float64(digits_like):
    model, x, y = digits_like
    plane = plane_of(model)
    fast_loss, fast_error = make_evaluator(model, x, y, plane, method="vit")(POINTS)
    ref = make_evaluator(model, x, y, plane, method="module", dtype=torch.float64)
    ref_loss, ref_error = ref(POINTS)
    assert relative_error(fast_loss, ref_loss) <= 1e-5
    np.testing.assert_array_equal(fast_error, ref_error)


def test_fast_forward_matches_timm_float32(smoke_study):
    model = smoke_study.model("base")
    x, y = smoke_study.data.test_x, smoke_study.data.test_y
    plane = plane_of(model)
    fast = make_evaluator(model, x, y, plane, method="vit")
    slow = make_evaluator(model, x, y, plane, method="module")
    assert fast.method == "vit"
    assert slow.method == "module"
    assert relative_error(fast(POINTS)[0], slow(POINTS)[0]) <= 1e-5


@pytest.mark.parametrize(
    "options",
    [{"include_1d": True}, {"embed_policy": "tensor"}, {"embed_policy": "zero"}],
    ids=["include_1d", "tensor", "zero"],
)
def test_fast_forward_direction_variants(digits_like, options):
    model, x, y = digits_like
    plane = plane_of(model, **options)
    fast = make_evaluator(model, x, y, plane, method="vit")(POINTS)[0]
    ref = make_evaluator(model, x, y, plane, method="module", dtype=torch.float64)
    assert relative_error(fast, ref(POINTS)[0]) <= 1e-5


def test_fast_forward_without_biases():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VisionTransformer(
            img_size=8,
            patch_size=4,
            in_chans=2,
            num_classes=3,
            embed_dim=12,
            depth=2,
            num_heads=4,
            mlp_ratio=1.5,
            qkv_bias=False,
        )
    x = torch.randn(10, 2, 8, 8)
    y = torch.tensor([0, 1, 2] * 3 + [0])
    plane = plane_of(model, include_1d=True)
    fast = make_evaluator(model, x, y, plane, method="vit")(POINTS)[0]
    ref = make_evaluator(model, x, y, plane, method="module", dtype=torch.float64)
    assert relative_error(fast, ref(POINTS)[0]) <= 1e-5


@pytest.mark.parametrize(
    "points_per_batch,images_per_batch", [(3, None), (1, 7), (4, 16)]
)
def test_batching_gives_same_values(digits_like, points_per_batch, images_per_batch):
    model, x, y = digits_like
    plane = plane_of(model)
    single = make_evaluator(model, x, y, plane, method="vit")(POINTS)
    batched = make_evaluator(
        model,
        x,
        y,
        plane,
        method="vit",
        points_per_batch=points_per_batch,
        images_per_batch=images_per_batch,
    )(POINTS)
    np.testing.assert_allclose(batched[0], single[0], rtol=1e-6)
    np.testing.assert_array_equal(batched[1], single[1])


def test_uncached_patch_embedding(digits_like, monkeypatch):
    model, x, y = digits_like
    plane = plane_of(model)
    cached = make_evaluator(model, x, y, plane, method="vit")
    monkeypatch.setattr(vit_module, "PATCH_CACHE_BYTES", 0)
    uncached = make_evaluator(model, x, y, plane, method="vit", points_per_batch=2)
    assert cached._embedding_cache is not None
    assert uncached._embedding_cache is None
    np.testing.assert_allclose(uncached(POINTS)[0], cached(POINTS)[0], rtol=1e-6)


def test_line_has_one_axis(digits_like):
    model, x, y = digits_like
    d1, _ = random_directions(model, seed=2)
    line = Plane.around(model, d1)
    alphas = np.array([-0.5, 0.0, 0.5, 1.5])
    fast = make_evaluator(model, x, y, line, method="vit")(alphas)[0]
    ref = make_evaluator(model, x, y, line, method="module", dtype=torch.float64)
    assert relative_error(fast, ref(alphas)[0]) <= 1e-5


def test_centre_equals_model_loss(smoke_study):
    model = smoke_study.model("base")
    data = smoke_study.data
    d1, d2 = random_directions(model, seed=0)
    grid = Grid.from_config(LandscapeConfig(n_points=(3, 3)))
    with torch.inference_mode():
        logits = model(data.test_x).double()
    expected_loss = F.cross_entropy(logits, data.test_y).item()
    expected_error = (logits.argmax(1) != data.test_y).double().mean().item()
    for method in ("module", "vit"):
        loss, error = evaluate_grid(
            model, data.test_x, data.test_y, d1, d2, grid, method=method
        )
        assert loss[1, 1] == pytest.approx(expected_loss, rel=1e-6), method
        assert error[1, 1] == expected_error, method
        assert loss[0, 0] != loss[1, 1], method
    # The module forward at (0, 0) runs the model on its own weights; only the
    # order of the float64 mean over images differs.
    module_loss, _ = evaluate_grid(
        model, data.test_x, data.test_y, d1, d2, grid, method="module"
    )
    assert module_loss[1, 1] == pytest.approx(expected_loss, rel=1e-14)


@pytest.mark.parametrize("method", ["module", "vit"])
def test_caller_model_unchanged(smoke_study, method):
    model = smoke_study.model("base").train()
    model.head.weight.requires_grad_(False)
    before = tensors_fingerprint(model.state_dict())
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    data = smoke_study.data
    d1, d2 = random_directions(model, seed=0, include_1d=True)
    grid = Grid.from_config(LandscapeConfig(n_points=(3, 5)))
    evaluate_grid(model, data.test_x, data.test_y, d1, d2, grid, method=method)
    assert model.training
    assert all(m.training for m in model.modules())
    assert tensors_fingerprint(model.state_dict()) == before
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("method", ["module", "vit"])
def test_rows_computed_afresh(smoke_study, method):
    model = smoke_study.model("base")
    data = smoke_study.data
    d1, d2 = random_directions(model, seed=0)
    grid = Grid.from_config(LandscapeConfig(n_points=(5, 5)))
    whole = evaluate_grid(model, data.test_x, data.test_y, d1, d2, grid, method=method)
    alone = evaluate_grid(
        model, data.test_x, data.test_y, d1, d2, grid, rows=[3], method=method
    )
    np.testing.assert_array_equal(alone[0][0], whole[0][3])
    np.testing.assert_array_equal(alone[1][0], whole[1][3])


@pytest.mark.parametrize("method", ["module", "vit"])
def test_far_points_give_gaps_not_errors(smoke_study, method):
    model = smoke_study.model("base")
    data = smoke_study.data
    plane = plane_of(model)
    grid = Grid(np.array([0.0, 1e30]), np.array([0.0, -1e35]))
    loss, error = evaluate_plane(
        model, data.test_x, data.test_y, plane, grid, method=method
    )
    assert np.isfinite(loss[0, 0])
    assert np.isfinite(error[0, 0])
    assert not np.isfinite(loss[1, 1])
    assert np.isnan(error[1, 1]) or 0 <= error[1, 1] <= 1


def test_generic_model_uses_module_forward(smoke_study):
    data = smoke_study.data
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    plane = plane_of(model, include_1d=True)
    evaluator = make_evaluator(model, data.test_x, data.test_y, plane)
    assert evaluator.method == "module"
    loss, error = evaluator(POINTS)
    assert loss.shape == (4,)
    assert np.all((error >= 0) & (error <= 1))


def test_unsupported_vit_explains_why():
    with torch.random.fork_rng(devices=[]):
        model = VisionTransformer(
            img_size=8,
            patch_size=2,
            in_chans=1,
            num_classes=10,
            embed_dim=16,
            depth=1,
            num_heads=2,
            global_pool="avg",
        )
    assert "pools by 'avg'" in unsupported_reason(model)
    assert unsupported_reason(build_model(ModelConfig(), 0)) is None
    x, y = torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match="pools by 'avg'"):
        make_evaluator(model, x, y, plane_of(model), method="vit")
    assert make_evaluator(model, x, y, plane_of(model)).method == "module"


def test_invalid_arguments_rejected(digits_like):
    model, x, y = digits_like
    plane = plane_of(model)
    with pytest.raises(ValueError, match="method must be one of"):
        make_evaluator(model, x, y, plane, method="fast")
    with pytest.raises(ValueError, match="dtype must be"):
        make_evaluator(model, x, y, plane, dtype=torch.float16)
    with pytest.raises(ValueError, match="x must be"):
        make_evaluator(model, x, y[:5], plane)
    with pytest.raises(ValueError, match="points_per_batch"):
        make_evaluator(model, x, y, plane, points_per_batch=0)
    with pytest.raises(TypeError, match="plane must be a Plane"):
        make_evaluator(model, x, y, {"origin": 0})
    with pytest.raises(ValueError, match="coefficients must be"):
        make_evaluator(model, x, y, plane)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x must be"):
        make_evaluator(model, torch.zeros(3, 1, 6, 6), y[:3], plane, method="vit")


def test_gpu_batch_sizes_from_free_memory(digits_like, monkeypatch):
    model, x, y = digits_like
    evaluator = make_evaluator(model, x, y, plane_of(model), method="vit")
    assert (evaluator.points_per_batch, evaluator.images_per_batch) == (1, 40)
    evaluator.device = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (2**33, 2**34))
    points, images = evaluator._default_sizes(None, None)
    per_image = 17 * 144 * 4  # tokens x widest activation (qkv) x float32 bytes
    assert images == 40
    assert points == min(256, int(2**33 * 0.25 / 8 // (per_image * 40)))
    assert evaluator._default_sizes(3, 7) == (3, 7)


@pytest.mark.parametrize("n_points", [1, 3])
def test_batched_matmul_strided_views(n_points):
    rows = torch.randn(n_points, 17 * 4, 3 * 48)
    stride = (17 * 4 * 144, 48, 4 * 144, 1)
    queries = rows.as_strided((n_points, 12, 17, 16), stride)
    keys = rows.as_strided((n_points, 12, 17, 16), stride, 16)
    out = torch.empty(n_points, 12, 17, 17)
    result = ops.batched_matmul(keys, queries.transpose(-1, -2), out)
    assert result.data_ptr() == out.data_ptr()
    torch.testing.assert_close(result, keys @ queries.transpose(-1, -2))


def test_workspace_reuses_by_name_and_shape():
    workspace = ops.Workspace(torch.float32, torch.device("cpu"))
    first = workspace.get("qkv", 2, 3)
    assert workspace.get("qkv", 2, 3) is first
    assert workspace.get("qkv", 3, 2) is not first
    assert workspace.get("hidden", 2, 3) is not first
