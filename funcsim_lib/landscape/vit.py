"""A batched forward of timm's ``VisionTransformer`` at many points of a plane.

It computes, for ``G`` points ``origin + c @ axes`` at once, the same logits as
timm's own eval-mode forward, but arranged for a small model whose cost is
mostly per-operation overhead, layout copies and element-wise work:

- Activations are stored token-major, ``(G, n_tokens, n_images, width)``, and
  the rows of every ``qkv`` weight are permuted to ``(head, q/k/v, head
  width)``. The queries, keys and values of all images and heads are then
  strided views of the ``qkv`` output that batched matmul reads directly,
  where timm's layout needs a reshape copy.
- Scores are computed transposed, ``(key, query)``, so the softmax reduces
  over a non-last axis, which PyTorch's CPU kernel handles about 1.5x faster
  for 17 tokens (torch 2.14, measured on a 2-core AMD EPYC).
- The attention scale is folded into the query rows of the ``qkv`` weights.
- The patch embedding is linear in its weights and its input, the test images,
  is the same at every point: ``embed(origin + c @ axes) = E_0 + c @ E_axes``
  is precomputed once where it fits in memory.
- Only the class token reaches the head, so the last block computes keys and
  values for every token but queries, the projection and the MLP for the class
  token alone.

Parameters with a zero direction are the same at every point and are kept
once. With the default directions these are the LayerNorm weights and all
biases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from funcsim_lib.landscape.plane import (
    Plane,
    ScoreAccumulator,
    image_batches,
    to_coefficients,
)

log = logging.getLogger(__name__)

# Largest precomputed patch embedding (E_0 and one term per axis) kept in
# memory; beyond it the embedding is computed per point from the weights.
PATCH_CACHE_BYTES = 256 * 2**20
# Target size of the largest activation of one forward on the CPU. 360 digits
# at width 48 (3.5 MB of qkv) fit in one batch.
CPU_ACTIVATION_BYTES = 64 * 2**20
# Share of free GPU memory one batch of points may take.
GPU_MEMORY_SHARE = 0.25
MAX_POINTS_PER_BATCH = 256


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


@dataclass(frozen=True)
class _Slot:
    """The span of a varying parameter in the flat vector of one point."""

    start: int
    stop: int
    shape: tuple[int, ...]


class VitEvaluator:
    """Test loss and error of a timm ViT at points ``origin + c @ axes``.

    Parameters
    ----------
    model
        The ViT; only its structure is read, never its parameters or flags.
    x, y
        Test images ``(n_images, channels, height, width)`` and labels.
    plane
        The origin and the one or two axes of the points.
    dtype
        Precision of the forward; the loss is summed in float64.
    points_per_batch
        Points per forward. None: 1 on the CPU; on a GPU, as many as a
        quarter of the free memory holds.
    images_per_batch
        Images per forward. None: as many as keep the widest activation
        within 64 MiB on the CPU, or within the memory share on a GPU.
    """

    method = "vit"

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        plane: Plane,
        dtype: torch.dtype = torch.float32,
        points_per_batch: int | None = None,
        images_per_batch: int | None = None,
    ) -> None:
        reason = unsupported_reason(model)
        if reason is not None:
            raise ValueError(
                f"the fast ViT forward cannot evaluate this model: {reason}"
            )
        self.device = next(model.parameters()).device
        self.dtype = dtype
        self.n_axes = len(plane.axes)
        self._read_structure(model)
        prepared = self._prepare(plane.to(self.device, dtype))
        self._split(prepared)
        self.x = x.to(self.device, dtype)
        self.y = y.to(self.device)
        self.points_per_batch, self.images_per_batch = self._default_sizes(
            points_per_batch, images_per_batch
        )
        self.batches = image_batches(len(self.x), self.images_per_batch)
        self._patches = self._extract_patches(self.x)
        self._embedding_cache = self._precompute_embedding()

    # -- structure and parameters -------------------------------------------

    def _read_structure(self, model: nn.Module) -> None:
        first = model.blocks[0] if len(model.blocks) else None
        self.width = model.embed_dim
        self.n_heads = first.attn.num_heads if first is not None else 1
        self.head_width = self.width // self.n_heads
        self.scale = first.attn.scale if first is not None else 1.0
        self.depth = len(model.blocks)
        self.n_tokens = model.pos_embed.shape[1]
        self.patch = model.patch_embed.proj.kernel_size
        self.in_chans = model.patch_embed.proj.in_channels
        self.img_size = tuple(model.patch_embed.img_size or ())
        self.mlp_width = first.mlp.fc1.out_features if first is not None else 0
        self.norm_eps = [(b.norm1.eps, b.norm2.eps) for b in model.blocks]
        self.final_eps = model.norm.eps
        self.gelu = [b.mlp.act.approximate for b in model.blocks]

    def _prepare(self, plane: Plane) -> dict[str, list[torch.Tensor | None]]:
        """Map the model's parameters to the forward's, for origin and each axis.

        Every map is linear, so applying it to the origin and to each axis
        gives exactly the mapped parameters of every point of the plane.
        """
        vectors = [plane.origin, *plane.axes]
        prepared: dict[str, list[torch.Tensor | None]] = {}

        def put(key: str, name: str, transform: Callable | None = None) -> None:
            if name not in plane.origin:
                prepared[key] = [None] * len(vectors)
                return
            tensors = [v[name] for v in vectors]
            prepared[key] = [transform(t) if transform else t for t in tensors]

        put("patch_w", "patch_embed.proj.weight", lambda w: w.reshape(w.shape[0], -1))
        put("patch_b", "patch_embed.proj.bias")
        put("cls", "cls_token", lambda t: t.reshape(-1))
        put("pos", "pos_embed", lambda t: t.reshape(self.n_tokens, self.width))
        for i in range(self.depth):
            block = f"blocks.{i}."
            last = i == self.depth - 1
            put(f"{i}.ln1_w", block + "norm1.weight")
            put(f"{i}.ln1_b", block + "norm1.bias")
            if last:
                put(f"{i}.q_w", block + "attn.qkv.weight", self._query_rows)
                put(f"{i}.q_b", block + "attn.qkv.bias", self._query_rows)
                put(f"{i}.kv_w", block + "attn.qkv.weight", self._key_value_rows)
                put(f"{i}.kv_b", block + "attn.qkv.bias", self._key_value_rows)
            else:
                put(f"{i}.qkv_w", block + "attn.qkv.weight", self._head_major_rows)
                put(f"{i}.qkv_b", block + "attn.qkv.bias", self._head_major_rows)
            for part, name in (
                ("proj", "attn.proj"),
                ("ln2", "norm2"),
                ("fc1", "mlp.fc1"),
                ("fc2", "mlp.fc2"),
            ):
                put(f"{i}.{part}_w", block + name + ".weight")
                put(f"{i}.{part}_b", block + name + ".bias")
        for part, name in (("norm", "norm"), ("head", "head")):
            put(f"{part}_w", name + ".weight")
            put(f"{part}_b", name + ".bias")
        return prepared

    def _split_qkv(self, t: torch.Tensor) -> torch.Tensor:
        # Rows of timm's qkv are (q/k/v, head, head width); the query rows are
        # scaled here, where timm scales the queries in the forward.
        rows = t.reshape(3, self.n_heads, self.head_width, *t.shape[1:]).clone()
        rows[0] *= self.scale
        return rows

    def _head_major_rows(self, t: torch.Tensor) -> torch.Tensor:
        return self._split_qkv(t).transpose(0, 1).reshape(t.shape).contiguous()

    def _query_rows(self, t: torch.Tensor) -> torch.Tensor:
        return self._split_qkv(t)[0].reshape(self.width, *t.shape[1:]).contiguous()

    def _key_value_rows(self, t: torch.Tensor) -> torch.Tensor:
        rows = self._split_qkv(t)[1:].transpose(0, 1)
        return rows.reshape(2 * self.width, *t.shape[1:]).contiguous()

    def _split(self, prepared: dict[str, list[torch.Tensor | None]]) -> None:
        """Keep parameters with a zero direction once; flatten the others."""
        self.shared: dict[str, torch.Tensor | None] = {}
        self.slots: dict[str, _Slot] = {}
        origins, axes = [], [[] for _ in range(self.n_axes)]
        offset = 0
        for key, (origin, *directions) in prepared.items():
            moving = origin is not None and any(
                bool(torch.count_nonzero(d)) for d in directions
            )
            if not moving:
                self.shared[key] = origin
                continue
            numel = origin.numel()
            self.slots[key] = _Slot(offset, offset + numel, tuple(origin.shape))
            offset += numel
            origins.append(origin.reshape(-1))
            for k, d in enumerate(directions):
                axes[k].append(d.reshape(-1))
        empty = torch.zeros(0, device=self.device, dtype=self.dtype)
        self.origin_flat = torch.cat(origins) if origins else empty
        self.axes_flat = (
            torch.stack([torch.cat(a) for a in axes])
            if origins
            else torch.zeros(self.n_axes, 0, device=self.device, dtype=self.dtype)
        )

    def _point_parameters(self, c: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """Return the forward's parameters of points ``c`` ``(G, n_axes)``.

        Varying ones get a leading ``G`` dimension; each point is computed
        afresh as origin + c @ axes.
        """
        flat = torch.addmm(self.origin_flat, c, self.axes_flat)
        params = dict(self.shared)
        for key, slot in self.slots.items():
            params[key] = flat[:, slot.start : slot.stop].view(-1, *slot.shape)
        return params

    # -- sizes ----------------------------------------------------------------

    def _bytes_per_image(self) -> int:
        """Return the bytes of the widest activation of one image at one point."""
        element = torch.finfo(self.dtype).bits // 8
        widest = max(3 * self.width, self.mlp_width, self.n_heads * self.n_tokens)
        return self.n_tokens * widest * element

    def _default_sizes(
        self, points_per_batch: int | None, images_per_batch: int | None
    ) -> tuple[int, int]:
        """Return points and images per forward, keeping requested values.

        On the CPU one point at a time was as fast per point as two or four
        (digits profile, 2-core AMD EPYC), and the images fill
        ``CPU_ACTIVATION_BYTES``. On a GPU the images come first, then as
        many points as ``GPU_MEMORY_SHARE`` of the free memory holds, with
        about eight activations of the widest size alive at once.
        """
        per_image = self._bytes_per_image()
        n_images = len(self.x)
        if self.device.type != "cuda":
            images = images_per_batch or int(
                max(1, min(n_images, CPU_ACTIVATION_BYTES // per_image))
            )
            return points_per_batch or 1, images
        # NOTE: not measured on a GPU yet; the share and the eight live
        # activations are estimates.
        free, _ = torch.cuda.mem_get_info(self.device)
        budget = free * GPU_MEMORY_SHARE / 8
        images = images_per_batch or int(max(1, min(n_images, budget // per_image)))
        fit = int(budget // (per_image * images))
        points = points_per_batch or max(1, min(MAX_POINTS_PER_BATCH, fit))
        return points, images

    # -- the patch embedding --------------------------------------------------

    def _extract_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Return the patches ``(n_patches, n_images, channels * ph * pw)``."""
        n, c, height, width = x.shape
        if c != self.in_chans or (self.img_size and (height, width) != self.img_size):
            raise ValueError(
                f"x must be (n, {self.in_chans}, {self.img_size[0]}, "
                f"{self.img_size[1]}) for this model, got {tuple(x.shape)}"
            )
        ph, pw = self.patch
        patches = x.reshape(n, c, height // ph, ph, width // pw, pw)
        patches = patches.permute(2, 4, 0, 1, 3, 5)
        return patches.reshape(-1, n, c * ph * pw).contiguous()

    def _precompute_embedding(self) -> list[tuple] | None:
        """Return, per image batch, the patch tokens' input at the origin and per axis.

        For a batch of ``n`` images the origin term is ``(n_patches * n *
        width,)``: the patch embedding plus the position embedding. The axis
        terms are ``(n_axes, n_patches * n * width)``, or None when neither
        embedding moves. None in place of the whole list means the cache would
        exceed ``PATCH_CACHE_BYTES``; the forward then embeds from each point's
        weights.
        """
        moving = any(key in self.slots for key in ("patch_w", "patch_b", "pos"))
        n_terms = 1 + (self.n_axes if moving else 0)
        element = torch.finfo(self.dtype).bits // 8
        size = n_terms * self._patches.shape[0] * len(self.x) * self.width * element
        if size > PATCH_CACHE_BYTES:
            return None
        cache = []
        for images in self.batches:
            patches = self._patches[:, images]
            terms = [
                self._embedding_term(patches, k).reshape(-1) for k in range(n_terms)
            ]
            axes = torch.stack(terms[1:]) if moving else None
            cache.append((terms[0], axes))
        return cache

    def _embedding_term(self, patches: torch.Tensor, k: int) -> torch.Tensor:
        """Return ``patches @ W_k.T + b_k + pos_k`` for the origin (k = 0) or axis k.

        ``patches`` is ``(n_patches, n, patch size)``; the result
        ``(n_patches, n, width)``.
        """
        n_patches, n_images, _ = patches.shape
        weight, bias = self._term("patch_w", k), self._term("patch_b", k)
        pos = self._term("pos", k)
        if weight is None:
            out = torch.zeros(
                n_patches * n_images, self.width, dtype=self.dtype, device=self.device
            )
        else:
            out = patches.reshape(n_patches * n_images, -1) @ weight.t()
        if bias is not None:
            out += bias
        out = out.view(n_patches, n_images, self.width)
        if pos is not None:
            out += pos[1:, None, :]
        return out

    def _term(self, key: str, k: int) -> torch.Tensor | None:
        """Return parameter ``key`` of the origin (k = 0) or of axis k, or None."""
        if key in self.slots:
            slot = self.slots[key]
            source = self.origin_flat if k == 0 else self.axes_flat[k - 1]
            return source[slot.start : slot.stop].view(slot.shape)
        return self.shared[key] if k == 0 else None

    def _embed_into(self, out: torch.Tensor, params: dict, c: torch.Tensor, batch: int):
        """Write the patch tokens' input into ``out``.

        ``out`` is ``(G, n_patches, n_batch, width)``; the input is the patch
        embedding plus the position embedding.
        """
        n_points, n_patches, n_batch, width = out.shape
        if self._embedding_cache is not None:
            origin, axes = self._embedding_cache[batch]
            if axes is None:
                out.copy_(origin.view(1, n_patches, n_batch, width))
            else:
                torch.addmm(origin, c, axes, out=out.view(n_points, -1))
            return
        patches = self._patches[:, self.batches[batch]]
        flat = patches.reshape(1, n_patches * n_batch, -1).expand(n_points, -1, -1)
        embedded = linear(flat, params["patch_w"], params["patch_b"])
        pos = params["pos"] if "pos" in self.slots else params["pos"].unsqueeze(0)
        torch.add(
            embedded.view(n_points, n_patches, n_batch, width),
            pos[:, 1:, None, :],
            out=out,
        )

    # -- the forward ----------------------------------------------------------

    @torch.inference_mode()
    def __call__(self, coefficients) -> tuple[np.ndarray, np.ndarray]:
        """Return test loss and error ``(n_points,)`` at ``coefficients``.

        ``coefficients`` is ``(n_points, n_axes)``; float64 numpy arrays.
        """
        c_all = to_coefficients(coefficients, self.n_axes)
        losses, errors = [], []
        for start in range(0, len(c_all), self.points_per_batch):
            c = c_all[start : start + self.points_per_batch]
            c = torch.as_tensor(c, dtype=self.dtype, device=self.device)
            params = self._point_parameters(c)
            scores = ScoreAccumulator(len(c), len(self.x))
            for batch, images in enumerate(self.batches):
                logits = self.logits(params, c, batch)
                scores.add(logits, self.y[images])
            loss, error = scores.result()
            losses.append(loss)
            errors.append(error)
        return np.concatenate(losses), np.concatenate(errors)

    def logits(self, params: dict, c: torch.Tensor, batch: int) -> torch.Tensor:
        """Return the logits ``(G, n_batch, n_classes)`` of image batch ``batch``."""
        n_points = len(c)
        images = self.batches[batch]
        n_batch = images.stop - images.start
        x = self._tokens(params, c, batch, n_points, n_batch)
        rows = x.view(n_points, self.n_tokens * n_batch, self.width)
        for i in range(self.depth - 1):
            self._block(params, i, rows, n_batch)
        if self.depth:
            cls = self._last_block(params, self.depth - 1, rows, n_batch)
        else:
            cls = rows[:, :n_batch].clone()
        z = layer_norm(cls, params["norm_w"], params["norm_b"], self.final_eps)
        return linear(z, params["head_w"], params["head_b"])

    def _tokens(self, params, c, batch, n_points, n_batch) -> torch.Tensor:
        """Return the block input ``(G, n_tokens, n_batch, width)``."""
        x = torch.empty(
            n_points,
            self.n_tokens,
            n_batch,
            self.width,
            dtype=self.dtype,
            device=self.device,
        )
        # Shared parameters have no points axis; give them one of size 1.
        pos, cls = params["pos"], params["cls"]
        pos = pos if "pos" in self.slots else pos.unsqueeze(0)
        cls = cls if "cls" in self.slots else cls.unsqueeze(0)
        self._embed_into(x[:, 1:], params, c, batch)
        x[:, 0] = (cls + pos[:, 0])[:, None, :]
        return x

    def _block(self, params: dict, i: int, rows: torch.Tensor, n_batch: int) -> None:
        """Apply block ``i`` to ``rows`` ``(G, n_tokens * n_batch, width)`` in place."""
        eps1, eps2 = self.norm_eps[i]
        h = layer_norm(rows, params[f"{i}.ln1_w"], params[f"{i}.ln1_b"], eps1)
        qkv = linear(h, params[f"{i}.qkv_w"], params[f"{i}.qkv_b"])
        attended = self._attention(qkv, n_batch)
        linear_add_(rows, attended, params[f"{i}.proj_w"], params[f"{i}.proj_b"])
        self._mlp_(params, i, rows, eps2)

    def _attention(self, qkv: torch.Tensor, n_batch: int) -> torch.Tensor:
        n_points = qkv.shape[0]
        tokens, heads, hw, width = (
            self.n_tokens,
            self.n_heads,
            self.head_width,
            self.width,
        )
        size = (n_points, n_batch * heads, tokens, hw)
        # Row (token, image), column (head, q/k/v, head width): a batch index
        # (image, head) has stride 3 * hw, a token n_batch * 3 * width.
        stride = (tokens * n_batch * 3 * width, 3 * hw, n_batch * 3 * width, 1)
        base = qkv.storage_offset()
        q = qkv.as_strided(size, stride, base)
        k = qkv.as_strided(size, stride, base + hw)
        v = qkv.as_strided(size, stride, base + 2 * hw)
        scores = batched_matmul(k, q.transpose(-1, -2))  # (key, query)
        weights = torch._softmax(scores, -2, False, out=scores)
        out = batched_matmul(weights.transpose(-1, -2), v)  # (query, head width)
        out = out.view(n_points, n_batch, heads, tokens, hw).permute(0, 3, 1, 2, 4)
        return out.reshape(n_points, tokens * n_batch, width)

    def _last_block(self, params, i: int, rows: torch.Tensor, n_batch: int):
        """Apply the last block to the class token; return ``(G, n_batch, width)``."""
        eps1, eps2 = self.norm_eps[i]
        n_points = rows.shape[0]
        tokens, heads, hw, width = (
            self.n_tokens,
            self.n_heads,
            self.head_width,
            self.width,
        )
        h = layer_norm(rows, params[f"{i}.ln1_w"], params[f"{i}.ln1_b"], eps1)
        kv = linear(h, params[f"{i}.kv_w"], params[f"{i}.kv_b"])
        query = linear(h[:, :n_batch], params[f"{i}.q_w"], params[f"{i}.q_b"])
        size = (n_points, n_batch * heads, tokens, hw)
        stride = (tokens * n_batch * 2 * width, 2 * hw, n_batch * 2 * width, 1)
        base = kv.storage_offset()
        k = kv.as_strided(size, stride, base)
        v = kv.as_strided(size, stride, base + hw)
        q = query.view(n_points, n_batch * heads, 1, hw)
        weights = batched_matmul(q, k.transpose(-1, -2)).softmax(dim=-1)
        attended = batched_matmul(weights, v).view(n_points, n_batch, width)
        cls = rows[:, :n_batch].clone()
        linear_add_(cls, attended, params[f"{i}.proj_w"], params[f"{i}.proj_b"])
        self._mlp_(params, i, cls, eps2)
        return cls

    def _mlp_(self, params: dict, i: int, rows: torch.Tensor, eps: float) -> None:
        h = layer_norm(rows, params[f"{i}.ln2_w"], params[f"{i}.ln2_b"], eps)
        hidden = linear(h, params[f"{i}.fc1_w"], params[f"{i}.fc1_b"])
        hidden = torch._C._nn.gelu(hidden, approximate=self.gelu[i], out=hidden)
        linear_add_(rows, hidden, params[f"{i}.fc2_w"], params[f"{i}.fc2_b"])


# -- operations on shared (no G axis) or per-point (leading G axis) parameters


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Return ``x @ w.T + b`` for ``x`` ``(G, rows, in)``.

    ``w`` is ``(out, in)`` shared by the points or ``(G, out, in)``; ``b`` is
    None, ``(out,)`` or ``(G, out)``.
    """
    n_points, n_rows, n_in = x.shape
    if w.dim() == 2:
        flat = x.reshape(n_points * n_rows, n_in)
        if b is not None and b.dim() == 1:
            return torch.addmm(b, flat, w.t()).view(n_points, n_rows, -1)
        out = (flat @ w.t()).view(n_points, n_rows, -1)
        return out if b is None else out.add_(b[:, None, :])
    if b is None:
        return torch.bmm(x, w.transpose(1, 2))
    bias = b[:, None, :] if b.dim() == 2 else b
    return torch.baddbmm(bias, x, w.transpose(1, 2))


def linear_add_(
    out: torch.Tensor, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None
) -> None:
    """Add ``x @ w.T + b`` to ``out`` ``(G, rows, out)`` in place."""
    n_points, n_rows, n_in = x.shape
    if w.dim() == 2 and out.is_contiguous():
        out.view(n_points * n_rows, -1).addmm_(
            x.reshape(n_points * n_rows, n_in), w.t()
        )
    elif w.dim() == 2:
        out += (x.reshape(n_points * n_rows, n_in) @ w.t()).view(out.shape)
    else:
        out.baddbmm_(x, w.transpose(1, 2))
    if b is not None:
        out += b[:, None, :] if b.dim() == 2 else b


def layer_norm(
    x: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None, eps: float
) -> torch.Tensor:
    """Return LayerNorm over the last axis of ``x`` ``(G, rows, width)``."""
    width = x.shape[-1]
    if (w is None or w.dim() == 1) and (b is None or b.dim() == 1):
        return F.layer_norm(x, (width,), w, b, eps)
    out = F.layer_norm(x, (width,), None, None, eps)
    if w is not None:
        out = out * (w[:, None, :] if w.dim() == 2 else w)
    if b is not None:
        out = out + (b[:, None, :] if b.dim() == 2 else b)
    return out


def batched_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return ``a @ b`` for ``(G, batch, m, k) @ (G, batch, k, n)`` strided views.

    With one point the two leading axes merge into a view, and one batched
    matmul reads the strided operands directly. Several points on the CPU get
    one call each, because merging their axes would copy the operands. On a
    GPU one large call is made; that copy is cheap there (not measured).
    """
    if a.shape[0] == 1 or a.device.type != "cpu":
        return torch.matmul(a, b)
    out = torch.empty(
        a.shape[0], a.shape[1], a.shape[2], b.shape[3], dtype=a.dtype, device=a.device
    )
    for g in range(a.shape[0]):
        torch.bmm(a[g], b[g], out=out[g])
    return out
