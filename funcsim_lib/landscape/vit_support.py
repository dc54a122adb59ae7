"""The check of which models the batched ViT forward in ``vit`` can evaluate."""

from __future__ import annotations

from torch import nn


def unsupported_reason(model: nn.Module) -> str | None:
    """Return why the fast forward cannot evaluate ``model``, or None if it can.

    It evaluates timm's ``VisionTransformer`` with a class token, class-token
    pooling and a learned position embedding that includes the class token.
    The patch embedding must be a convolution whose stride equals its kernel.
    Every block must be a pre-norm ``Block`` with plain ``Attention`` (no
    qk-norm, gate or layer scale) and an ``Mlp`` with GELU, and the head one
    linear layer.
    """
    from timm.models.vision_transformer import VisionTransformer

    if type(model) is not VisionTransformer:
        return f"not a timm VisionTransformer but {type(model).__name__}"
    checks = _model_checks(model) + _embedding_checks(model.patch_embed)
    for i, block in enumerate(model.blocks):
        checks += _block_checks(i, block, model.embed_dim, model.blocks[0])
    for ok, reason in checks:
        if not ok:
            return reason
    return None


def _model_checks(model: nn.Module) -> list[tuple[bool, str]]:
    return [
        (model.cls_token is not None, "it has no class token"),
        (getattr(model, "reg_token", None) is None, "it has register tokens"),
        (model.num_prefix_tokens == 1, "it has more than one prefix token"),
        (model.pos_embed is not None, "it has no learned position embedding"),
        (not model.no_embed_class, "its position embedding skips the class token"),
        (not model.dynamic_img_size, "it resizes position embeddings"),
        (model.global_pool == "token", f"it pools by {model.global_pool!r}"),
        (getattr(model, "attn_pool", None) is None, "it pools by attention"),
        (isinstance(model.norm_pre, nn.Identity), "it has a pre-norm"),
        (isinstance(model.fc_norm, nn.Identity), "it has an fc_norm"),
        (isinstance(model.norm, nn.LayerNorm), "its final norm is not LayerNorm"),
        (isinstance(model.head, nn.Linear), "its head is not one linear layer"),
    ]


def _embedding_checks(embed: nn.Module) -> list[tuple[bool, str]]:
    from timm.layers import PatchEmbed

    proj = getattr(embed, "proj", None)
    plain = (
        isinstance(proj, nn.Conv2d)
        and proj.kernel_size == proj.stride
        and proj.padding == (0, 0)
        and proj.dilation == (1, 1)
        and proj.groups == 1
    )
    return [
        (type(embed) is PatchEmbed, "its patch embedding is not PatchEmbed"),
        (plain, "its patch projection is not a plain non-overlapping Conv2d"),
        (isinstance(embed.norm, nn.Identity), "its patch embedding is normalised"),
        (embed.flatten and not embed.dynamic_img_pad, "its patches are not flat"),
    ]


def _block_checks(
    i: int, block: nn.Module, width: int, first: nn.Module
) -> list[tuple[bool, str]]:
    from timm.layers import Mlp
    from timm.models.vision_transformer import Attention, Block

    kinds = [
        (type(block) is Block, f"block {i} is not a pre-norm Block"),
        (type(getattr(block, "attn", None)) is Attention, f"block {i} attention"),
        (type(getattr(block, "mlp", None)) is Mlp, f"block {i} has another MLP"),
    ]
    if not all(ok for ok, _ in kinds):
        return kinds
    attn, mlp = block.attn, block.mlp
    same_heads = (
        attn.num_heads * attn.head_dim == width
        and attn.num_heads == first.attn.num_heads
    )
    return kinds + [
        (isinstance(block.ls1, nn.Identity), f"block {i} has layer scale"),
        (isinstance(block.ls2, nn.Identity), f"block {i} has layer scale"),
        (isinstance(block.norm1, nn.LayerNorm), f"block {i} norm1 is not LayerNorm"),
        (isinstance(block.norm2, nn.LayerNorm), f"block {i} norm2 is not LayerNorm"),
        (isinstance(attn.q_norm, nn.Identity), f"block {i} has qk-norm"),
        (isinstance(attn.norm, nn.Identity), f"block {i} normalises attention"),
        (getattr(attn, "gate", None) is None, f"block {i} gates attention"),
        (same_heads, f"block {i} has another number or width of heads"),
        (type(mlp.act) is nn.GELU, f"block {i} activation is not GELU"),
        (isinstance(mlp.norm, nn.Identity), f"block {i} normalises in its MLP"),
    ]
