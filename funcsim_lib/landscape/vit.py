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

import numpy as np
import torch
from torch import nn

from funcsim_lib.landscape.ops import (
    Workspace,
    batched_matmul,
    layer_norm,
    linear,
    linear_add_,
)
from funcsim_lib.landscape.plane import (
    Plane,
    ScoreAccumulator,
    image_batches,
    to_coefficients,
)
from funcsim_lib.landscape.vit_parameters import PointParameters
from funcsim_lib.landscape.vit_support import unsupported_reason

# Largest precomputed patch embedding (E_0 and one term per axis) kept in
# memory; beyond it the embedding is computed per point from the weights.
PATCH_CACHE_BYTES = 256 * 2**20
# Target size of the largest activation of one forward on the CPU. 360 digits
# at width 48 (3.5 MB of qkv) fit in one batch.
CPU_ACTIVATION_BYTES = 64 * 2**20
# Share of free GPU memory one batch of points may take.
GPU_MEMORY_SHARE = 0.25
MAX_POINTS_PER_BATCH = 256


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
        self.params = PointParameters(
            plane.to(self.device, dtype),
            self.depth,
            self.n_heads,
            self.head_width,
            self.scale,
            self.n_tokens,
        )
        self.x = x.to(self.device, dtype)
        self.y = y.to(self.device)
        self.points_per_batch, self.images_per_batch = self._default_sizes(
            points_per_batch, images_per_batch
        )
        self.batches = image_batches(len(self.x), self.images_per_batch)
        self.workspace = Workspace(dtype, self.device)
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
        self.mlp_widths = [b.mlp.fc1.out_features for b in model.blocks]

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

        On the CPU one point at a time was at least as fast per point as two
        or four (digits profile, 2-core AMD EPYC), and the images fill
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
        moving = any(self.params.moving(key) for key in ("patch_w", "patch_b", "pos"))
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
        weight, bias = self.params.term("patch_w", k), self.params.term("patch_b", k)
        pos = self.params.term("pos", k)
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
        pos = params["pos"] if self.params.moving("pos") else params["pos"].unsqueeze(0)
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
            params = self.params.at(c, self.workspace)
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
        x = self.workspace.get("tokens", n_points, self.n_tokens, n_batch, self.width)
        # Shared parameters have no points axis; give them one of size 1.
        pos, cls = params["pos"], params["cls"]
        pos = pos if self.params.moving("pos") else pos.unsqueeze(0)
        cls = cls if self.params.moving("cls") else cls.unsqueeze(0)
        self._embed_into(x[:, 1:], params, c, batch)
        x[:, 0] = (cls + pos[:, 0])[:, None, :]
        return x

    def _block(self, params: dict, i: int, rows: torch.Tensor, n_batch: int) -> None:
        """Apply block ``i`` to ``rows`` ``(G, n_tokens * n_batch, width)`` in place."""
        eps1, eps2 = self.norm_eps[i]
        get = self.workspace.get
        n_points, n_rows, width = rows.shape
        h = layer_norm(rows, params[f"{i}.ln1_w"], params[f"{i}.ln1_b"], eps1)
        qkv = get("qkv", n_points, n_rows, 3 * width)
        linear(h, params[f"{i}.qkv_w"], params[f"{i}.qkv_b"], qkv)
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
        get = self.workspace.get
        scores = get("scores", n_points, n_batch * heads, tokens, tokens)
        batched_matmul(k, q.transpose(-1, -2), scores)  # (key, query)
        weights = torch._softmax(scores, -2, False, out=scores)
        out = get("attention", n_points, n_batch * heads, tokens, hw)
        batched_matmul(weights.transpose(-1, -2), v, out)  # (query, head width)
        out = out.view(n_points, n_batch, heads, tokens, hw).permute(0, 3, 1, 2, 4)
        attended = get("attended", n_points, tokens, n_batch, heads, hw)
        attended.copy_(out)
        return attended.view(n_points, tokens * n_batch, width)

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
        get = self.workspace.get
        n_rows = rows.shape[1]
        h = layer_norm(rows, params[f"{i}.ln1_w"], params[f"{i}.ln1_b"], eps1)
        kv = get("kv", n_points, n_rows, 2 * width)
        linear(h, params[f"{i}.kv_w"], params[f"{i}.kv_b"], kv)
        query = get("query", n_points, n_batch, width)
        linear(h[:, :n_batch], params[f"{i}.q_w"], params[f"{i}.q_b"], query)
        size = (n_points, n_batch * heads, tokens, hw)
        stride = (tokens * n_batch * 2 * width, 2 * hw, n_batch * 2 * width, 1)
        base = kv.storage_offset()
        k = kv.as_strided(size, stride, base)
        v = kv.as_strided(size, stride, base + hw)
        q = query.view(n_points, n_batch * heads, 1, hw)
        weights = batched_matmul(q, k.transpose(-1, -2)).softmax(dim=-1)
        attended = batched_matmul(weights, v).view(n_points, n_batch, width)
        cls = get("cls", n_points, n_batch, width)
        cls.copy_(rows[:, :n_batch])
        linear_add_(cls, attended, params[f"{i}.proj_w"], params[f"{i}.proj_b"])
        self._mlp_(params, i, cls, eps2)
        return cls

    def _mlp_(self, params: dict, i: int, rows: torch.Tensor, eps: float) -> None:
        n_points, n_rows, width = rows.shape
        h = layer_norm(rows, params[f"{i}.ln2_w"], params[f"{i}.ln2_b"], eps)
        hidden = self.workspace.get("hidden", n_points, n_rows, self.mlp_widths[i])
        linear(h, params[f"{i}.fc1_w"], params[f"{i}.fc1_b"], hidden)
        torch._C._nn.gelu(hidden, approximate=self.gelu[i], out=hidden)
        linear_add_(rows, hidden, params[f"{i}.fc2_w"], params[f"{i}.fc2_b"])
