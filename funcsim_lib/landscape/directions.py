"""Filter-normalised random directions in parameter space (Li et al. 2018).

A *direction* maps every parameter name of a model to a tensor of the same
shape. Li et al. (2018, "Visualizing the Loss Landscape of Neural Nets") draw
it from a Gaussian and rescale each *filter* to the norm of the matching
filter of the weights, so that the plot does not depend on the scale of each
layer. Here a filter is a slice along dimension 0 of a
tensor with two or more dimensions: an output row of a linear layer, an
output channel of a convolution.

The ViT's position embedding ``(1, n_tokens, width)`` and class token
``(1, 1, width)`` need a rule of their own, because their dimension 0 is a
broadcast axis of size one rather than a set of filters. ``embed_policy``
chooses it:

- ``"token"`` (the default): each token's vector is a filter, as the rows of
  an ``nn.Embedding`` table are under the plain rule. The class token is then
  one filter, and each position gets a step in proportion to its own
  embedding.
- ``"tensor"``: the plain rule applied to the stored shape, so the whole
  tensor is one filter.
- ``"zero"``: no direction, as for the biases; the embeddings stay fixed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import torch

EMBED_POLICIES = ("token", "tensor", "zero")
# Parameter names (the last part of the dotted name) that embed_policy governs:
# timm's VisionTransformer class token, register tokens, position embedding,
# and DeiT's distillation token.
TOKEN_PARAMETERS = ("pos_embed", "cls_token", "reg_token", "dist_token")
# Added to a noise norm before dividing by it, as in Li et al.'s code.
NORM_EPSILON = 1e-10

Direction = dict[str, torch.Tensor]


def random_directions(
    model: torch.nn.Module,
    seed: int,
    include_1d: bool = False,
    embed_policy: str = "token",
) -> tuple[Direction, Direction]:
    """Draw two filter-normalised Gaussian directions for ``model``.

    Parameters
    ----------
    model
        The model whose parameters set the shapes and the filter norms. It is
        only read.
    seed
        Seed of the CPU generator that draws both directions, the first one
        completely before the second.
    include_1d
        Give one-dimensional parameters (biases, LayerNorm weights) a
        direction too, scaled to the tensor's norm as one filter. By default
        their direction is zero. (Li et al.'s code, ``net_plotter.py`` in
        github.com/tomgoldstein/loss-landscape, copies the weights into the
        direction instead when it includes them.)
    embed_policy
        How the tokens and position embeddings are normalised: ``"token"``,
        ``"tensor"`` or ``"zero"``, as the module docstring describes.

    Returns
    -------
    tuple of dict
        ``(d1, d2)``, each mapping a parameter name to a float32 CPU tensor of
        that parameter's shape.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if embed_policy not in EMBED_POLICIES:
        raise ValueError(
            f"embed_policy must be one of {EMBED_POLICIES}, got {embed_policy!r}"
        )
    generator = torch.Generator().manual_seed(seed)
    directions = []
    for _ in range(2):
        direction = {}
        for name, param in model.named_parameters():
            weights = param.detach().to("cpu", torch.float32)
            noise = torch.randn(weights.shape, generator=generator)
            direction[name] = normalise_filters(
                name, noise, weights, include_1d, embed_policy
            )
        directions.append(direction)
    return directions[0], directions[1]


def normalise_filters(
    name: str,
    noise: torch.Tensor,
    weights: torch.Tensor,
    include_1d: bool = False,
    embed_policy: str = "token",
) -> torch.Tensor:
    """Rescale ``noise`` filter by filter to the norms of ``weights``.

    ``name`` is the parameter's dotted name; its last part decides whether
    ``embed_policy`` applies. A filter of the weights with norm zero gives a
    zero filter.
    """
    if noise.shape != weights.shape:
        raise ValueError(
            f"noise and weights of {name!r} must have the same shape, got "
            f"{tuple(noise.shape)} and {tuple(weights.shape)}"
        )
    if name.rsplit(".", 1)[-1] in TOKEN_PARAMETERS:
        if embed_policy == "zero":
            return torch.zeros_like(noise)
        if embed_policy == "tensor":
            return _scale_rows(noise.reshape(1, -1), weights.reshape(1, -1), noise)
        width = noise.shape[-1]
        return _scale_rows(noise.reshape(-1, width), weights.reshape(-1, width), noise)
    if noise.ndim <= 1:
        if not include_1d:
            return torch.zeros_like(noise)
        return _scale_rows(noise.reshape(1, -1), weights.reshape(1, -1), noise)
    rows = noise.shape[0]
    return _scale_rows(noise.reshape(rows, -1), weights.reshape(rows, -1), noise)


def _scale_rows(
    noise: torch.Tensor, weights: torch.Tensor, like: torch.Tensor
) -> torch.Tensor:
    scale = weights.norm(dim=1) / (noise.norm(dim=1) + NORM_EPSILON)
    return (noise * scale[:, None]).reshape(like.shape)


def direction_cosine(first: Mapping[str, torch.Tensor], second: Mapping) -> float:
    """Return the cosine between two directions seen as flat vectors.

    Two independent Gaussian directions in ``n`` dimensions have a cosine of
    order ``1 / sqrt(n)``, so a value near zero means the plane is close to
    orthogonal, as Li et al. assume.
    """
    if set(first) != set(second):
        raise ValueError(
            "the two directions must have the same parameter names; "
            f"they differ in {sorted(set(first) ^ set(second))}"
        )
    dot = sum(float((first[k].double() * second[k].double()).sum()) for k in first)
    norm1 = sum(float(first[k].double().pow(2).sum()) for k in first) ** 0.5
    norm2 = sum(float(second[k].double().pow(2).sum()) for k in second) ** 0.5
    if norm1 == 0 or norm2 == 0:
        return float("nan")
    return dot / (norm1 * norm2)


def tensors_fingerprint(tensors: Mapping[str, torch.Tensor]) -> str:
    """Return the SHA-256 of named tensors: names, dtypes, shapes and bytes.

    Two fingerprints are equal only when every tensor is equal bit for bit, so
    a stored grid can be matched to exactly the weights and directions that
    produced it.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        header = f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|"
        digest.update(header.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def flat_norm(tensors: Mapping[str, torch.Tensor]) -> float:
    """Return the Euclidean norm of named tensors seen as one flat vector."""
    total = sum(float(t.double().pow(2).sum()) for t in tensors.values())
    return float(np.sqrt(total))
