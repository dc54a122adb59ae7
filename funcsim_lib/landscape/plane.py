"""Planes and lines in parameter space, and the scores of points on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

Tensors = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Plane:
    """The points ``origin + c[0] * axes[0] + c[1] * axes[1]`` of parameter space.

    ``origin`` and every axis map the same parameter names to tensors of the
    same shapes. A line has one axis, a plane two.
    """

    origin: dict[str, torch.Tensor]
    axes: tuple[dict[str, torch.Tensor], ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.axes) <= 2:
            raise ValueError(f"a plane needs 1 or 2 axes, got {len(self.axes)}")
        for k, axis in enumerate(self.axes):
            if set(axis) != set(self.origin):
                raise ValueError(
                    f"axis {k} must name the origin's parameters; they differ in "
                    f"{sorted(set(axis) ^ set(self.origin))}"
                )
            for name, tensor in axis.items():
                if tensor.shape != self.origin[name].shape:
                    raise ValueError(
                        f"axis {k} has shape {tuple(tensor.shape)} for {name!r}, "
                        f"the origin {tuple(self.origin[name].shape)}"
                    )

    @classmethod
    def around(cls, model: torch.nn.Module, *axes: Tensors) -> Plane:
        """Return the plane through ``model``'s parameters along ``axes``."""
        origin = {k: p.detach().clone() for k, p in model.named_parameters()}
        return cls(origin, tuple(dict(a) for a in axes))

    def to(self, device: torch.device | str, dtype: torch.dtype) -> Plane:
        """Return a copy of the plane on ``device`` in ``dtype``."""

        def move(tensors: Tensors) -> dict[str, torch.Tensor]:
            return {k: v.to(device=device, dtype=dtype) for k, v in tensors.items()}

        return Plane(move(self.origin), tuple(move(a) for a in self.axes))

    def point(self, coefficients) -> dict[str, torch.Tensor]:
        """Return the parameters at ``coefficients``, computed afresh."""
        c = [float(v) for v in np.atleast_1d(coefficients)]
        if len(c) != len(self.axes):
            raise ValueError(
                f"coefficients must have {len(self.axes)} values, got {len(c)}"
            )
        point = {}
        for name, origin in self.origin.items():
            step = sum(value * axis[name] for value, axis in zip(c, self.axes))
            point[name] = origin + step
        return point


def to_coefficients(coefficients, n_axes: int) -> np.ndarray:
    """Return ``coefficients`` as a float64 ``(n_points, n_axes)`` array, checked."""
    c = np.asarray(coefficients, dtype=np.float64)
    if c.ndim == 1 and n_axes == 1:
        c = c[:, None]
    if c.ndim != 2 or c.shape[1] != n_axes:
        raise ValueError(
            f"coefficients must be (n_points, {n_axes}), got shape {c.shape}"
        )
    if not np.all(np.isfinite(c)):
        raise ValueError("coefficients must be finite")
    return c


def image_batches(n_images: int, images_per_batch: int) -> list[slice]:
    """Split ``n_images`` into consecutive slices of at most ``images_per_batch``."""
    if images_per_batch < 1:
        raise ValueError(f"images_per_batch must be >= 1, got {images_per_batch}")
    return [
        slice(start, min(start + images_per_batch, n_images))
        for start in range(0, n_images, images_per_batch)
    ]


class ScoreAccumulator:
    """Sums of the cross-entropy and of the errors of ``n_points`` models.

    Logits arrive batch by batch of images; the sums are float64. A point
    whose logits contain NaN gets error NaN, since its prediction is
    undefined; its loss is whatever cross-entropy gives (NaN or inf).
    """

    def __init__(self, n_points: int, n_images: int) -> None:
        self.n_images = n_images
        self.loss_sum = torch.zeros(n_points, dtype=torch.float64)
        self.wrong = torch.zeros(n_points, dtype=torch.int64)
        self.has_nan = torch.zeros(n_points, dtype=torch.bool)
        self.seen = 0

    def add(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Add logits ``(n_points, n_batch, n_classes)`` of labels ``y``."""
        n_points, n_batch, _ = logits.shape
        wide = logits.to(torch.float64)
        labels = y.to(logits.device)
        # The cross-entropy: minus the log-probability of each image's label.
        index = labels.view(1, n_batch, 1).expand(n_points, n_batch, 1)
        picked = torch.log_softmax(wide, -1).gather(-1, index)
        self.loss_sum -= picked.sum((1, 2)).cpu()
        self.wrong += (wide.argmax(-1) != labels).sum(1).cpu()
        self.has_nan |= torch.isnan(wide).any(-1).any(-1).cpu()
        self.seen += n_batch

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Return mean loss and error rate ``(n_points,)`` over every image."""
        if self.seen != self.n_images:
            raise RuntimeError(f"scored {self.seen} of {self.n_images} images")
        loss = (self.loss_sum / self.n_images).numpy()
        error = (self.wrong.to(torch.float64) / self.n_images).numpy()
        error[self.has_nan.numpy()] = np.nan
        return loss, error
