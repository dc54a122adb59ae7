"""Operations on parameters shared by all points or given per point.

A batch of ``G`` points stores activations as ``(G, rows, width)``. A
parameter with a zero direction is the same at every point and keeps its
own shape, ``(out, in)`` for a weight. One that moves has a leading points
axis, ``(G, out, in)``. The functions here accept both, and write into a
given ``out`` tensor where one is passed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Workspace:
    """Output buffers that are reused from point to point, one per name and shape.

    Freshly allocated activations of a few MB each can cost page faults,
    because glibc's allocator may hand such blocks back to the system and get
    new, zeroed pages for the next. After a job had first drawn its
    directions, a digits point on one CPU thread took 31 ms with 5,000 page
    faults. With the buffers reused it took 17 ms with none (2-core AMD EPYC,
    torch 2.14).
    """

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype = dtype
        self.device = device
        self._buffers: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}

    def get(self, name: str, *shape: int) -> torch.Tensor:
        """Return the buffer ``name`` of ``shape``; its contents are undefined."""
        key = (name, shape)
        if key not in self._buffers:
            self._buffers[key] = torch.empty(
                shape, dtype=self.dtype, device=self.device
            )
        return self._buffers[key]


def linear(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return ``x @ w.T + b`` for ``x`` ``(G, rows, in)``, in ``out`` if given.

    ``w`` is ``(out, in)`` shared by the points or ``(G, out, in)``; ``b`` is
    None, ``(out,)`` or ``(G, out)``. ``out`` must be contiguous.
    """
    n_points, n_rows, n_in = x.shape
    n_out = w.shape[-2]
    if out is None:
        out = torch.empty(n_points, n_rows, n_out, dtype=x.dtype, device=x.device)
    if w.dim() == 2:
        flat = x.reshape(n_points * n_rows, n_in)
        flat_out = out.view(n_points * n_rows, n_out)
        if b is not None and b.dim() == 1:
            torch.addmm(b, flat, w.t(), out=flat_out)
            return out
        torch.mm(flat, w.t(), out=flat_out)
        return out if b is None else out.add_(b[:, None, :])
    if b is None:
        return torch.bmm(x, w.transpose(1, 2), out=out)
    bias = b[:, None, :] if b.dim() == 2 else b
    return torch.baddbmm(bias, x, w.transpose(1, 2), out=out)


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
    """Return LayerNorm over the last axis of ``x`` ``(G, rows, width)``.

    It allocates its output: ``F.layer_norm`` was faster than its ``out=``
    form, which computes into a temporary and copies (torch 2.14).
    """
    width = x.shape[-1]
    if (w is None or w.dim() == 1) and (b is None or b.dim() == 1):
        return F.layer_norm(x, (width,), w, b, eps)
    out = F.layer_norm(x, (width,), None, None, eps)
    if w is not None:
        out.mul_(w[:, None, :] if w.dim() == 2 else w)
    if b is not None:
        out.add_(b[:, None, :] if b.dim() == 2 else b)
    return out


def batched_matmul(
    a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Return ``a @ b`` for ``(G, batch, m, k) @ (G, batch, k, n)`` strided views.

    With one point the two leading axes merge into a view, and one batched
    matmul reads the strided operands directly. Several points on the CPU get
    one call each, because merging their axes would copy the operands. On a
    GPU one large call is made; that copy is cheap there (not measured).
    ``out``, if given, is a contiguous ``(G, batch, m, n)`` tensor.
    """
    n_points, batch, m, _ = a.shape
    if out is None:
        out = torch.empty(
            n_points, batch, m, b.shape[3], dtype=a.dtype, device=a.device
        )
    if n_points == 1:
        return torch.bmm(a[0], b[0], out=out[0]).unsqueeze(0)
    if a.device.type != "cpu":
        return torch.matmul(a, b, out=out)
    for g in range(n_points):
        torch.bmm(a[g], b[g], out=out[g])
    return out
