"""Coordinates of a landscape grid, and the distance between two landscapes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from funcsim_lib.config import LandscapeConfig, origin_index


@dataclass(frozen=True)
class Grid:
    """The coordinates ``alphas`` ``(n_alpha,)`` and ``betas`` ``(n_beta,)``.

    Point ``(i, j)`` of a grid is ``origin + alphas[i] * axis_1 + betas[j] *
    axis_2``; row ``i`` is every point with ``alphas[i]``. A grid for a line
    has a single beta.
    """

    alphas: np.ndarray
    betas: np.ndarray

    def __post_init__(self) -> None:
        for name in ("alphas", "betas"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.ndim != 1 or values.size == 0:
                raise ValueError(
                    f"{name} must be a non-empty 1-D array, got shape {values.shape}"
                )
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name} must be finite, got {values}")
            object.__setattr__(self, name, values)

    @classmethod
    def from_span(
        cls, n_points: tuple[int, int], span: tuple[float, float, float, float]
    ) -> Grid:
        """Build an inclusive grid: ``n_points`` values from each start to stop.

        The grid contains 0 only where ``n_points - 1`` steps reach it, and
        float rounding can still move it by a few ulps. ``from_config`` builds
        the random plane, whose origin must be a grid point.

        >>> Grid.from_span((5, 3), (-1.0, 1.0, -1.0, 1.0)).betas
        array([-1.,  0.,  1.])
        """
        n_alpha, n_beta = n_points
        a0, a1, b0, b1 = span
        return cls(np.linspace(a0, a1, n_alpha), np.linspace(b0, b1, n_beta))

    @classmethod
    def from_config(cls, config: LandscapeConfig) -> Grid:
        """Build the random-plane grid that ``config`` describes.

        ``LandscapeConfig`` only accepts counts that put 0 on both axes, to
        within rounding. That point is set to exactly 0 here, so that the
        trained model itself is evaluated and ``index_of_origin`` finds it.
        """
        grid = cls.from_span(config.n_points, config.span)
        a0, a1, b0, b1 = config.span
        for values, start, stop in ((grid.alphas, a0, a1), (grid.betas, b0, b1)):
            index = origin_index(len(values), start, stop)
            if index is None:
                raise ValueError(
                    f"the grid of {config.n_points!r} points over {config.span!r} "
                    "has no point at 0, so the trained model is not on it"
                )
            values[index] = 0.0
        return grid

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.alphas), len(self.betas))

    def coefficients(self, row: int) -> np.ndarray:
        """Return the ``(n_beta, 2)`` coefficients ``(alpha, beta)`` of a row."""
        if not 0 <= row < len(self.alphas):
            raise IndexError(f"row must be in [0, {len(self.alphas)}), got {row}")
        alphas = np.full(len(self.betas), self.alphas[row])
        return np.stack([alphas, self.betas], axis=1)

    def index_of_origin(self) -> tuple[int, int] | None:
        """Return the index of the point (0, 0), or None when it is off the grid."""
        i = np.flatnonzero(self.alphas == 0.0)
        j = np.flatnonzero(self.betas == 0.0)
        if i.size == 0 or j.size == 0:
            return None
        return int(i[0]), int(j[0])


def landscape_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Return the Euclidean distance between two landscapes on the same grid.

    The distance is the L2 norm of the difference over the points where both
    values are finite; it is NaN when there is no such point. It compares the
    two surfaces as arrays: each model's grid lies along its own pair of
    directions, so a small distance says the losses change alike around the
    models, not that the models compute the same function.

    >>> landscape_distance(np.zeros((2, 2)), np.full((2, 2), 0.5))
    1.0
    """
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"the two landscapes must have the same shape, got {a.shape} and {b.shape}"
        )
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return float("nan")
    return float(np.sqrt(np.sum((a[both] - b[both]) ** 2)))
