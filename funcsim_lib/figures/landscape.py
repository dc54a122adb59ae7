"""Figures of loss landscapes: contours, 3D surfaces, lines and model planes.

Values that are NaN or infinite (far points where the loss overflows) are
drawn as gaps, and colour scales span only the finite values.

Every 3D scene is one WebGL context in the browser, and browsers allow only
about 8 to 16 per page, so ``landscape_surfaces`` draws one scene per model and
a page should hold at most a couple of such figures. Contours and lines are
SVG and cost no context.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from funcsim_lib.figures.common import CONDITION_COLOURS, apply_layout

COLOURSCALE = "Viridis"


def finite_or_nan(values: np.ndarray) -> np.ndarray:
    """Return ``values`` as float64 with every NaN or infinity set to NaN."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def shared_range(surfaces: Mapping[str, np.ndarray]) -> tuple[float, float] | None:
    """Return (min, max) of the finite values of all surfaces, or None if none."""
    finite = [v[np.isfinite(v)] for v in map(finite_or_nan, surfaces.values())]
    finite = np.concatenate([f.ravel() for f in finite]) if finite else np.array([])
    if finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


def run_colour(run: str) -> str:
    """Return the colour of a run's condition (``siddo_2`` -> the SIDDO colour)."""
    return CONDITION_COLOURS.get(run.split("_")[0], "#555555")


def _check_grid(alphas, betas, surfaces: Mapping[str, np.ndarray]) -> None:
    if not surfaces:
        raise ValueError("surfaces must hold at least one landscape, got none")
    expected = (len(alphas), len(betas))
    for name, values in surfaces.items():
        if np.shape(values) != expected:
            raise ValueError(
                f"surface {name!r} must be (n_alpha, n_beta) = {expected}, "
                f"got {np.shape(values)}"
            )


def _colour_axis(surfaces: Mapping[str, np.ndarray], value_label: str) -> dict:
    axis = dict(colorscale=COLOURSCALE, colorbar=dict(title=value_label))
    bounds = shared_range(surfaces)
    if bounds is not None:
        axis.update(cmin=bounds[0], cmax=bounds[1])
    return axis


def landscape_contours(
    alphas: np.ndarray,
    betas: np.ndarray,
    surfaces: Mapping[str, np.ndarray],
    value_label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw one contour plot per model, side by side, on one shared colour scale.

    ``surfaces`` maps a model's name to values ``(n_alpha, n_beta)``; the
    model itself, at (0, 0), is marked with a cross.
    """
    _check_grid(alphas, betas, surfaces)
    names = list(surfaces)
    fig = make_subplots(
        rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True
    )
    for col, name in enumerate(names, start=1):
        fig.add_trace(
            go.Contour(
                x=alphas,
                y=betas,
                z=finite_or_nan(surfaces[name]).T,
                coloraxis="coloraxis",
                ncontours=25,
                connectgaps=False,
                hovertemplate="α %{x:.2f}<br>β %{y:.2f}<br>"
                + value_label
                + " %{z:.4f}<extra>"
                + name
                + "</extra>",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=[0],
                y=[0],
                mode="markers",
                showlegend=False,
                hoverinfo="skip",
                marker=dict(symbol="x", color="white", size=9, line=dict(width=1)),
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="α (direction 1)", row=1, col=col)
    fig.update_yaxes(title_text="β (direction 2)", row=1, col=1)
    fig.update_layout(coloraxis=_colour_axis(surfaces, value_label))
    return apply_layout(fig, title, 440)


def landscape_surfaces(
    alphas: np.ndarray,
    betas: np.ndarray,
    surfaces: Mapping[str, np.ndarray],
    value_label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw one 3D surface per model, side by side, on shared z and colour scales.

    Each model is one scene, that is one WebGL context in the browser.
    """
    _check_grid(alphas, betas, surfaces)
    names = list(surfaces)
    specs = [[{"type": "scene"} for _ in names]]
    fig = make_subplots(
        rows=1,
        cols=len(names),
        specs=specs,
        subplot_titles=names,
        horizontal_spacing=0.02,
    )
    bounds = shared_range(surfaces)
    for col, name in enumerate(names, start=1):
        fig.add_trace(
            go.Surface(
                x=alphas,
                y=betas,
                z=finite_or_nan(surfaces[name]).T,
                coloraxis="coloraxis",
                hovertemplate="α %{x:.2f}<br>β %{y:.2f}<br>"
                + value_label
                + " %{z:.4f}<extra>"
                + name
                + "</extra>",
            ),
            row=1,
            col=col,
        )
    scene = dict(
        xaxis_title="α",
        yaxis_title="β",
        zaxis_title=value_label,
        camera=dict(eye=dict(x=1.6, y=1.6, z=0.9)),
    )
    if bounds is not None:
        scene["zaxis"] = dict(range=list(bounds))
    fig.update_scenes(**scene)
    fig.update_layout(coloraxis=_colour_axis(surfaces, value_label))
    return apply_layout(fig, title, 460)


def interpolation_curves(
    alphas: np.ndarray,
    losses: Mapping[str, np.ndarray],
    errors: Mapping[str, np.ndarray],
    colours: Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Draw test loss and test error along lines between models, side by side.

    ``losses`` and ``errors`` map a line's label to values ``(n_alpha,)``;
    errors are fractions and are drawn in percent. Dotted verticals mark
    alpha 0 and 1, the two models.
    """
    if set(losses) != set(errors):
        raise ValueError(
            f"losses and errors must have the same labels, got {sorted(losses)} "
            f"and {sorted(errors)}"
        )
    fig = make_subplots(rows=1, cols=2, subplot_titles=["test loss", "test error (%)"])
    for label in losses:
        colour = (colours or {}).get(label)
        for col, (values, scale) in enumerate(
            ((losses[label], 1.0), (errors[label], 100.0)), start=1
        ):
            if np.shape(values) != np.shape(alphas):
                raise ValueError(
                    f"line {label!r} must have {len(alphas)} values, "
                    f"got {np.shape(values)}"
                )
            fig.add_trace(
                go.Scatter(
                    x=alphas,
                    y=scale * finite_or_nan(values),
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    line=dict(color=colour),
                    connectgaps=False,
                    hovertemplate="α %{x:.2f}<br>%{y:.4f}<extra>" + label + "</extra>",
                ),
                row=1,
                col=col,
            )
    for col in (1, 2):
        for alpha in (0, 1):
            fig.add_vline(
                x=alpha, line=dict(dash="dot", color="#999999", width=1), row=1, col=col
            )
        fig.update_xaxes(title_text="α (0: first model, 1: second)", row=1, col=col)
    return apply_layout(fig, title, 420)


def model_plane(
    alphas: np.ndarray,
    betas: np.ndarray,
    values: np.ndarray,
    points: Mapping[str, tuple[float, float]],
    value_label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw values ``(n_alpha, n_beta)`` on the plane through models as contours.

    ``points`` maps each model's name to its coordinates on the plane; each is
    marked and labelled.
    """
    _check_grid(alphas, betas, {"plane": values})
    fig = go.Figure()
    bounds = shared_range({"plane": values})
    contour = dict(
        x=alphas,
        y=betas,
        z=finite_or_nan(values).T,
        colorscale=COLOURSCALE,
        ncontours=25,
        connectgaps=False,
        colorbar=dict(title=value_label),
        hovertemplate="%{x:.2f}, %{y:.2f}<br>"
        + value_label
        + " %{z:.4f}<extra></extra>",
    )
    if bounds is not None:
        contour.update(zmin=bounds[0], zmax=bounds[1])
    fig.add_trace(go.Contour(**contour))
    for name, (x, y) in points.items():
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers+text",
                text=[name],
                textposition="top center",
                textfont=dict(color="white"),
                name=name,
                marker=dict(
                    color=run_colour(name), size=11, line=dict(color="white", width=1.5)
                ),
                hovertemplate=name + " (%{x:.2f}, %{y:.2f})<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="distance along the first axis")
    fig.update_yaxes(title_text="distance along the second axis", scaleanchor="x")
    return apply_layout(fig, title, 520)
