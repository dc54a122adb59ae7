"""Test loss and test error at points of a plane in parameter space.

Every point is set afresh to ``origin + alpha * axis_1 + beta * axis_2``,
never reached by accumulated steps, and evaluated in eval mode. The caller's
model is only read: its parameters, buffers, ``requires_grad`` and train/eval
flags are the same afterwards.

Two evaluators compute the same numbers: ``VitEvaluator`` (``method="vit"``),
a batched forward written for timm's ``VisionTransformer``, and
``ModuleEvaluator`` (``method="module"``), which calls the model itself
through ``torch.func.functional_call`` and works for any model.
``method="auto"`` takes the first where the model is supported.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from funcsim_lib.landscape.grid import Grid
from funcsim_lib.landscape.plane import (
    Plane,
    ScoreAccumulator,
    Tensors,
    image_batches,
    to_coefficients,
)
from funcsim_lib.landscape.vit import VitEvaluator
from funcsim_lib.landscape.vit_support import unsupported_reason

log = logging.getLogger(__name__)

METHODS = ("auto", "vit", "module")


class ModuleEvaluator:
    """Test loss and error at points of a plane, through the model's own forward.

    The model is deep-copied once in eval mode; each point's parameters are
    passed to the copy with ``functional_call``, so the caller's model is never
    written. Buffers (for example BatchNorm statistics) are the origin model's
    at every point.
    """

    method = "module"

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
        self.device = next(model.parameters()).device
        self.module = copy.deepcopy(model).to(dtype=dtype).eval()
        self.module.requires_grad_(False)
        self.plane = plane.to(self.device, dtype)
        self.n_axes = len(plane.axes)
        self.x = x.to(self.device, dtype)
        self.y = y.to(self.device)
        self.points_per_batch = points_per_batch or 1
        self.images_per_batch = images_per_batch or len(self.x)
        self.batches = image_batches(len(self.x), self.images_per_batch)

    @torch.inference_mode()
    def __call__(self, coefficients) -> tuple[np.ndarray, np.ndarray]:
        """Return test loss and error ``(n_points,)`` at ``coefficients``."""
        c_all = to_coefficients(coefficients, len(self.plane.axes))
        losses, errors = [], []
        for c in c_all:
            params = self.plane.point(c)
            scores = ScoreAccumulator(1, len(self.x))
            for images in self.batches:
                logits = functional_call(self.module, params, (self.x[images],))
                scores.add(logits.unsqueeze(0), self.y[images])
            loss, error = scores.result()
            losses.append(loss)
            errors.append(error)
        return np.concatenate(losses), np.concatenate(errors)


def make_evaluator(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    plane: Plane,
    method: str = "auto",
    dtype: torch.dtype = torch.float32,
    points_per_batch: int | None = None,
    images_per_batch: int | None = None,
) -> VitEvaluator | ModuleEvaluator:
    """Return the evaluator that ``method`` selects for ``model``.

    Parameters
    ----------
    model
        The model; only read.
    x, y
        Images ``(n_images, ...)`` and int64 labels ``(n_images,)``; they are
        moved to the model's device.
    plane
        Origin and axes of the points.
    method
        ``"vit"``, ``"module"``, or ``"auto"``: ``"vit"`` where
        ``funcsim_lib.landscape.vit.unsupported_reason`` accepts the model.
    dtype
        Precision of the forward (``torch.float32`` or ``torch.float64``).
    points_per_batch, images_per_batch
        Batch sizes; None lets the evaluator choose for its device.
    """
    if not isinstance(plane, Plane):
        raise TypeError(f"plane must be a Plane, got {type(plane).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if x.shape[:1] != y.shape or y.ndim != 1:
        raise ValueError(
            f"x must be (n_images, ...) and y (n_images,), got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    for name, value in (
        ("points_per_batch", points_per_batch),
        ("images_per_batch", images_per_batch),
    ):
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be None or >= 1, got {value!r}")
    if method == "auto":
        reason = unsupported_reason(model)
        method = "vit" if reason is None else "module"
        if reason is not None:
            log.info("using the module forward: %s", reason)
    evaluator = VitEvaluator if method == "vit" else ModuleEvaluator
    return evaluator(model, x, y, plane, dtype, points_per_batch, images_per_batch)


def evaluate_points(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    plane: Plane,
    coefficients,
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """Return test loss and error ``(n_points,)`` at ``(n_points, n_axes)`` points.

    ``options`` are those of ``make_evaluator``.
    """
    return make_evaluator(model, x, y, plane, **options)(coefficients)


def iter_rows(
    evaluator, grid: Grid, rows: Sequence[int]
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(row, loss, error)`` for each row, values ``(n_beta,)``."""
    for row in rows:
        loss, error = evaluator(grid.coefficients(row)[:, : evaluator.n_axes])
        yield row, loss, error


def evaluate_plane(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    plane: Plane,
    grid: Grid,
    rows: Sequence[int] | None = None,
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """Return test loss and error ``(n_rows, n_beta)`` on rows of a grid.

    For a plane with one axis (a line), the betas are ignored and ``n_beta``
    should be 1. ``options`` are those of ``make_evaluator``.
    """
    rows = range(len(grid.alphas)) if rows is None else rows
    evaluator = make_evaluator(model, x, y, plane, **options)
    losses = np.zeros((len(rows), len(grid.betas)))
    errors = np.zeros_like(losses)
    for i, (_, loss, error) in enumerate(iter_rows(evaluator, grid, rows)):
        losses[i], errors[i] = loss, error
    return losses, errors


def evaluate_grid(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    d1: Tensors,
    d2: Tensors,
    grid: Grid,
    rows: Sequence[int] | None = None,
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """Return test loss and error ``(n_rows, n_beta)`` around ``model``.

    Point ``(i, j)`` is ``theta + grid.alphas[i] * d1 + grid.betas[j] * d2``,
    with ``theta`` the model's parameters. ``rows`` picks rows of the grid
    (default: all). ``options`` are those of ``make_evaluator``.
    """
    return evaluate_plane(
        model, x, y, Plane.around(model, d1, d2), grid, rows, **options
    )
