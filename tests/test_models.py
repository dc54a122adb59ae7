import torch
from timm.models.vision_transformer import VisionTransformer

from funcsim_lib.config import ModelConfig
from funcsim_lib.models import build_model, count_parameters


def test_build_model_is_timm_vit():
    model = build_model(ModelConfig(), init_seed=0)
    assert isinstance(model, VisionTransformer)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_digits_model_size():
    assert 50_000 < count_parameters(build_model(ModelConfig(), 0)) < 70_000


def test_init_seed_alone_sets_parameters():
    a = build_model(ModelConfig(), 5).state_dict()
    b = build_model(ModelConfig(), 5).state_dict()
    c = build_model(ModelConfig(), 6).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_build_model_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(ModelConfig(), 0)
    assert torch.equal(torch.rand(3), expected)


def test_fused_attention_flag_applied():
    model = build_model(ModelConfig(fused_attn=False), 0)
    assert not any(block.attn.fused_attn for block in model.blocks)
