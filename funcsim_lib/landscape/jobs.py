"""The three kinds of grid a study's landscapes are made of.

- ``RandomPlane``: the plane through one run along two filter-normalised
  random directions (Li et al. 2018), ``theta + alpha * d1 + beta * d2``.
- ``Interpolation``: the line ``theta_a + alpha * (theta_b - theta_a)``
  through two runs; ``alpha`` 0 and 1 are the runs.
- ``ModelPlane``: the plane through three runs, with orthonormal axes from
  Gram-Schmidt: the first points from run 0 to run 1, the second is the part
  of run 0 -> run 2 orthogonal to it. Coordinates are distances in parameter
  space.

A job only describes a grid: which runs, which settings. It builds its axes
from the runs' models, and ``funcsim_lib.landscape.stored`` evaluates it.
Lines and model planes move every parameter, one-dimensional ones and
embeddings included, since they join real models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from funcsim_lib.config import LandscapeConfig
from funcsim_lib.landscape.directions import direction_cosine, random_directions
from funcsim_lib.landscape.grid import Grid

if TYPE_CHECKING:
    from funcsim_lib.study import Study

Axes = tuple[dict[str, torch.Tensor], ...]
# Seed of the fixed permutation that picks LandscapeConfig.n_inputs test images.
INPUT_SUBSET_SEED = 0
# Below this share of |run 2 - run 0|, the part orthogonal to the first axis is
# taken as rounding, and the three runs as lying on one line.
COLLINEAR_TOLERANCE = 1e-6


def _parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.detach().to("cpu", torch.float64) for k, p in model.named_parameters()}


def _dot(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return sum(float((a[k] * b[k]).sum()) for k in a)


@dataclass(frozen=True)
class RandomPlane:
    """The random-direction landscape of ``run``."""

    run: str
    config: LandscapeConfig
    kind: ClassVar[str] = "random"

    @property
    def runs(self) -> tuple[str, ...]:
        return (self.run,)

    @property
    def name(self) -> str:
        return f"random-{self.run}"

    def settings(self) -> dict[str, Any]:
        c = self.config
        return {
            "kind": self.kind,
            "runs": list(self.runs),
            "n_points": list(c.n_points),
            "span": list(c.span),
            "direction_seed": c.direction_seed,
            "include_1d": c.include_1d,
            "embed_policy": c.embed_policy,
            "n_inputs": c.n_inputs,
        }

    def build_axes(self, models: dict[str, nn.Module]) -> tuple[Axes, dict[str, Any]]:
        """Return the two directions, and the seed and cosine to store with them."""
        c = self.config
        d1, d2 = random_directions(
            models[self.run], c.direction_seed, c.include_1d, c.embed_policy
        )
        extras = {
            "direction_seed": np.int64(c.direction_seed),
            "direction_cosine": np.float64(direction_cosine(d1, d2)),
        }
        return (d1, d2), extras

    def grid(self, extras: dict[str, Any]) -> Grid:
        return Grid.from_config(self.config)


@dataclass(frozen=True)
class Interpolation:
    """The line from run ``start`` (alpha = 0) to run ``end`` (alpha = 1)."""

    start: str
    end: str
    config: LandscapeConfig
    kind: ClassVar[str] = "line"

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"start and end must differ, got {self.start!r} twice")

    @property
    def runs(self) -> tuple[str, ...]:
        return (self.start, self.end)

    @property
    def name(self) -> str:
        return f"line-{self.start}-{self.end}"

    def settings(self) -> dict[str, Any]:
        c = self.config
        return {
            "kind": self.kind,
            "runs": list(self.runs),
            "line_points": c.line_points,
            "line_span": list(c.line_span),
            "n_inputs": c.n_inputs,
        }

    def build_axes(self, models: dict[str, nn.Module]) -> tuple[Axes, dict[str, Any]]:
        """Return the axis ``theta_end - theta_start`` and its length."""
        start, end = _parameters(models[self.start]), _parameters(models[self.end])
        axis = {k: end[k] - start[k] for k in start}
        extras = {"distance": np.float64(np.sqrt(_dot(axis, axis)))}
        return ({k: v.float() for k, v in axis.items()},), extras

    def grid(self, extras: dict[str, Any]) -> Grid:
        c = self.config
        return Grid(np.linspace(*c.line_span, c.line_points), np.zeros(1))


@dataclass(frozen=True)
class ModelPlane:
    """The plane through three runs; ``runs[0]`` is the origin."""

    runs: tuple[str, str, str]
    config: LandscapeConfig
    kind: ClassVar[str] = "plane"

    def __post_init__(self) -> None:
        if len(self.runs) != 3 or len(set(self.runs)) != 3:
            raise ValueError(f"runs must be three distinct runs, got {self.runs!r}")

    @property
    def name(self) -> str:
        return "plane-" + "-".join(self.runs)

    def settings(self) -> dict[str, Any]:
        c = self.config
        return {
            "kind": self.kind,
            "runs": list(self.runs),
            "plane_points": list(c.plane_points),
            "plane_margin": c.plane_margin,
            "n_inputs": c.n_inputs,
        }

    def build_axes(self, models: dict[str, nn.Module]) -> tuple[Axes, dict[str, Any]]:
        """Return the Gram-Schmidt axes and the three runs' coordinates ``(3, 2)``.

        The arithmetic is float64; the axes are stored as float32.
        """
        origin, first, second = (_parameters(models[r]) for r in self.runs)
        u = {k: first[k] - origin[k] for k in origin}
        w = {k: second[k] - origin[k] for k in origin}
        u_norm = np.sqrt(_dot(u, u))
        if u_norm == 0:
            raise ValueError(f"runs {self.runs[0]!r} and {self.runs[1]!r} are equal")
        e1 = {k: v / u_norm for k, v in u.items()}
        along = _dot(w, e1)
        rest = {k: w[k] - along * e1[k] for k in w}
        rest_norm = np.sqrt(_dot(rest, rest))
        # Stored weights are float32, so collinearity shows only to ~1e-7.
        if rest_norm <= COLLINEAR_TOLERANCE * np.sqrt(_dot(w, w)):
            raise ValueError(f"the runs {self.runs!r} lie on one line; no plane")
        e2 = {k: v / rest_norm for k, v in rest.items()}
        coordinates = np.array([[0.0, 0.0], [u_norm, 0.0], [along, rest_norm]])
        axes = tuple({k: v.float() for k, v in e.items()} for e in (e1, e2))
        return axes, {
            "model_coordinates": coordinates,
            "model_runs": np.array(self.runs),
        }

    def grid(self, extras: dict[str, Any]) -> Grid:
        """Return a grid around the three runs with ``plane_margin`` on each side."""
        coordinates = np.asarray(extras["model_coordinates"])
        low, high = coordinates.min(0), coordinates.max(0)
        margin = self.config.plane_margin * float((high - low).max())
        span = (low[0] - margin, high[0] + margin, low[1] - margin, high[1] + margin)
        return Grid.from_span(self.config.plane_points, span)


Job = RandomPlane | Interpolation | ModelPlane


def section_jobs(config: LandscapeConfig) -> list[Job]:
    """Return the grids of the traditional section for ``config.runs``.

    A random plane around every run; the line from the first run to each of
    the others; and, with exactly three runs, the plane through them.
    """
    runs = tuple(config.runs)
    jobs: list[Job] = [RandomPlane(run, config) for run in runs]
    jobs += [Interpolation(runs[0], other, config) for other in runs[1:]]
    if len(runs) == 3:
        jobs.append(ModelPlane(runs, config))
    return jobs


def evaluation_inputs(
    study: Study, config: LandscapeConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the test images and labels the grids are evaluated on.

    All of them, or ``config.n_inputs`` picked by a fixed permutation and kept
    in their stored order.
    """
    data = study.data
    x, y = data.test_x, data.test_y
    if config.n_inputs is None or config.n_inputs >= len(y):
        return x, y
    generator = torch.Generator().manual_seed(INPUT_SUBSET_SEED)
    index = torch.randperm(len(y), generator=generator)[: config.n_inputs].sort().values
    return x[index], y[index]
