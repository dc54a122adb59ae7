"""The parameters of the batched ViT forward at points of a plane.

The forward reads timm's parameters rearranged: ``qkv`` rows in
``(head, q/k/v, head width)`` order with the attention scale folded into the
queries, the last block's queries apart from its keys and values, the patch
weights flattened. Every rearrangement is linear, so it is applied once to
the origin and to each axis, and the parameters of a point are
``origin + c @ axes`` in the rearranged form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from funcsim_lib.landscape.ops import Workspace
from funcsim_lib.landscape.plane import Plane


@dataclass(frozen=True)
class _Slot:
    """The span of a varying parameter in the flat vector of one point."""

    start: int
    stop: int
    shape: tuple[int, ...]


class PointParameters:
    """The forward's parameters of a plane, by key, for any batch of points.

    Parameters
    ----------
    plane
        Origin and axes, already on the forward's device and in its dtype.
    depth, n_heads, head_width, scale, n_tokens
        The ViT's number of blocks, attention heads, head width, attention
        scale and tokens (patches and the class token).
    """

    def __init__(
        self,
        plane: Plane,
        depth: int,
        n_heads: int,
        head_width: int,
        scale: float,
        n_tokens: int,
    ) -> None:
        self.depth = depth
        self.n_heads = n_heads
        self.head_width = head_width
        self.width = n_heads * head_width
        self.scale = scale
        self.n_tokens = n_tokens
        self.n_axes = len(plane.axes)
        some = next(iter(plane.origin.values()))
        self.device, self.dtype = some.device, some.dtype
        self._split(self._prepare(plane))

    def moving(self, key: str) -> bool:
        """Return whether parameter ``key`` differs between points."""
        return key in self.slots

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

    def at(
        self, c: torch.Tensor, workspace: Workspace
    ) -> dict[str, torch.Tensor | None]:
        """Return the forward's parameters of points ``c`` ``(G, n_axes)``.

        Varying ones get a leading ``G`` dimension; each point is computed
        afresh as origin + c @ axes.
        """
        flat = workspace.get("flat", len(c), len(self.origin_flat))
        torch.addmm(self.origin_flat, c, self.axes_flat, out=flat)
        params = dict(self.shared)
        for key, slot in self.slots.items():
            params[key] = flat[:, slot.start : slot.stop].view(-1, *slot.shape)
        return params

    def term(self, key: str, k: int) -> torch.Tensor | None:
        """Return parameter ``key`` of the origin (k = 0) or of axis k, or None."""
        if key in self.slots:
            slot = self.slots[key]
            source = self.origin_flat if k == 0 else self.axes_flat[k - 1]
            return source[slot.start : slot.stop].view(slot.shape)
        return self.shared[key] if k == 0 else None
