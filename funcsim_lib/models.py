"""The study's model: timm's ``VisionTransformer``, initialised from a seed."""

from __future__ import annotations

import dataclasses

import torch
from timm.models.vision_transformer import VisionTransformer

from funcsim_lib.config import ModelConfig


def build_model(config: ModelConfig, init_seed: int) -> VisionTransformer:
    """Return a ViT whose initial parameters depend on ``init_seed`` alone.

    timm initialises from the global RNG, so the construction runs inside
    ``torch.random.fork_rng``: the global state is seeded for it and restored
    afterwards, leaving every other consumer of that RNG undisturbed.
    """
    arguments = dataclasses.asdict(config)
    fused_attn = arguments.pop("fused_attn")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = VisionTransformer(**arguments)
    for block in model.blocks:
        block.attn.fused_attn = fused_attn
    return model


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_for_storage(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Return the model's tensors as contiguous CPU copies, for safetensors."""
    return {
        k: v.detach().to("cpu").contiguous().clone()
        for k, v in model.state_dict().items()
    }
