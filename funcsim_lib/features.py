"""Features of a layer of interest, captured with forward hooks, and their CKA.

The measures take arrays only; this module runs the models. A forward hook
on the named submodule keeps that layer's output for each batch, reduced to
one vector per sample, and ``layer_cka`` streams those batches into
``measures.CKAAccumulator`` so that only one batch of features is held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import numpy as np
import torch

from funcsim_lib.measures import CKAAccumulator

# How a token sequence (batch, tokens, width) becomes one vector per sample:
#   "cls": the class token, the first of the sequence;
#   "mean": the mean over the tokens after the prefix (class and register) tokens;
#   "flatten": every token, concatenated.
REDUCTIONS = ("cls", "mean", "flatten")


def last_block(model: torch.nn.Module) -> str:
    """Return the name of a timm ViT's last transformer block, e.g. ``blocks.2``."""
    blocks = getattr(model, "blocks", None)
    if blocks is None or len(blocks) == 0:
        raise ValueError(
            f"{type(model).__name__} has no 'blocks'; pass the layer name, "
            "one of the names in model.named_modules()"
        )
    return f"blocks.{len(blocks) - 1}"


def _reduce(output: torch.Tensor, reduction: str, n_prefix: int) -> torch.Tensor:
    if output.ndim == 2 or reduction == "flatten":
        return output.flatten(start_dim=1)
    if output.ndim != 3:
        raise ValueError(
            f"the layer's output must be (batch, tokens, width) or (batch, width), "
            f"got shape {tuple(output.shape)}"
        )
    if reduction == "cls":
        if n_prefix < 1:
            raise ValueError("reduction 'cls' needs a model with a class token")
        return output[:, 0]
    return output[:, n_prefix:].mean(dim=1)


def iter_features(
    model: torch.nn.Module,
    images: torch.Tensor,
    layer: str | None = None,
    *,
    reduction: str = "cls",
    batch_size: int = 256,
) -> Iterator[np.ndarray]:
    """Yield the features of ``layer`` batch by batch, ``(n_batch, n_features)``.

    Parameters
    ----------
    model
        Any module; its mode (train or eval) is left as it is, so pass it in
        eval mode for deterministic features.
    images
        ``(n_samples, channels, height, width)``, on the model's device.
    layer
        A name from ``model.named_modules()``; None: the last block of a
        timm ViT.
    reduction
        One of ``REDUCTIONS``.
    batch_size
        Samples per forward pass.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    name = layer if layer is not None else last_block(model)
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise ValueError(
            f"layer {name!r} is not a submodule of {type(model).__name__}"
        ) from None
    n_prefix = int(getattr(model, "num_prefix_tokens", 0))
    captured: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        captured.append(_reduce(output, reduction, n_prefix))

    handle = module.register_forward_hook(keep)
    try:
        for start in range(0, len(images), batch_size):
            # Inference mode is thread-wide state: it must end before the
            # yield, or the caller would run without gradients meanwhile.
            with torch.inference_mode():
                model(images[start : start + batch_size])
            yield captured.pop().float().cpu().numpy()
    finally:
        handle.remove()


def capture_features(
    model: torch.nn.Module,
    images: torch.Tensor,
    layer: str | None = None,
    *,
    reduction: str = "cls",
    batch_size: int = 256,
) -> np.ndarray:
    """Return the features of ``layer`` for all images, ``(n_samples, n_features)``.

    Arguments as for ``iter_features``.
    """
    batches = iter_features(
        model, images, layer, reduction=reduction, batch_size=batch_size
    )
    return np.concatenate(list(batches))


def layer_cka(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module,
    images: torch.Tensor,
    layer: str | None = None,
    *,
    reduction: str = "cls",
    batch_size: int = 256,
) -> float:
    """Return the linear CKA of one layer of two models on the same images.

    The layer name applies to both models; other arguments as for
    ``iter_features``. The features are accumulated in float64 batch by batch.
    """
    accumulator = CKAAccumulator()
    options = dict(reduction=reduction, batch_size=batch_size)
    # closing() removes both hooks even though zip leaves one stream unfinished.
    with (
        closing(iter_features(model_a, images, layer, **options)) as stream_a,
        closing(iter_features(model_b, images, layer, **options)) as stream_b,
    ):
        for a, b in zip(stream_a, stream_b):
            accumulator.update(a, b)
    return accumulator.result()
