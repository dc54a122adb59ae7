"""Plotly figure builders: arrays in, figures out; no computing, no loading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

CONDITION_COLOURS = {
    "base": "#222222",
    "siddo": "#1f77b4",
    "disdo": "#d62728",
    "replica": "#7f7f7f",
}
FONT = dict(family="Georgia, 'Times New Roman', serif", size=13)


def _layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        font=FONT,
        template="plotly_white",
        margin=dict(l=60, r=30, t=70 if title else 30, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="center", x=0.5),
    )
    return fig


def landscape_contours(
    alphas: np.ndarray,
    betas: np.ndarray,
    surfaces: Mapping[str, np.ndarray],
    value_label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw one contour plot per model, side by side, on one shared colour scale.

    ``surfaces`` maps a model's name to values ``(n_alpha, n_beta)``; non-finite
    values are left as gaps.
    """
    names = list(surfaces)
    finite = np.concatenate([v[np.isfinite(v)].ravel() for v in surfaces.values()])
    fig = make_subplots(
        rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True
    )
    for col, name in enumerate(names, start=1):
        values = np.where(np.isfinite(surfaces[name]), surfaces[name], np.nan)
        fig.add_trace(
            go.Contour(
                x=alphas,
                y=betas,
                z=values.T,
                coloraxis="coloraxis",
                ncontours=25,
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
    fig.update_layout(
        coloraxis=dict(
            colorscale="Viridis",
            cmin=float(finite.min()),
            cmax=float(finite.max()),
            colorbar=dict(title=value_label),
        )
    )
    return _layout(fig, title, 440)


def trajectory_figure(
    trajectories: Mapping[str, np.ndarray],
    conditions: Mapping[str, str],
    axis_labels: Sequence[str],
    title: str | None = None,
) -> go.Figure:
    """Draw each run's checkpoints as a line, start and end marked, epoch on hover."""
    fig = go.Figure()
    for run, coords in trajectories.items():
        colour = CONDITION_COLOURS[conditions[run]]
        epochs = np.arange(len(coords))
        dash = "dot" if conditions[run] == "replica" else "solid"
        fig.add_trace(
            go.Scatter(
                x=coords[:, 0],
                y=coords[:, 1],
                mode="lines+markers",
                name=run,
                line=dict(color=colour, dash=dash, width=1.5),
                marker=dict(size=4, color=colour),
                customdata=epochs,
                hovertemplate=run + "<br>epoch %{customdata}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=coords[[0, -1], 0],
                y=coords[[0, -1], 1],
                mode="markers",
                showlegend=False,
                hoverinfo="skip",
                marker=dict(
                    symbol=["circle-open", "star"], size=[11, 13], color=colour
                ),
            )
        )
    fig.update_xaxes(title_text=axis_labels[0])
    fig.update_yaxes(title_text=axis_labels[1])
    return _layout(fig, title, 540)


def curves_with_bands(
    epochs: np.ndarray,
    series: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    colours: Mapping[str, str],
    y_label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw mean curves with shaded bands; ``series``: label -> (mean, low, high)."""
    fig = go.Figure()
    for label, (mean, low, high) in series.items():
        colour = colours[label]
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([epochs, epochs[::-1]]),
                y=np.concatenate([high, low[::-1]]),
                fill="toself",
                fillcolor=colour,
                opacity=0.18,
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=mean,
                mode="lines",
                name=label,
                line=dict(color=colour),
                hovertemplate=label + "<br>epoch %{x}<br>%{y:.4f}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text=y_label)
    return _layout(fig, title, 420)


def measures_panel(
    epochs: np.ndarray,
    panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    colours: Mapping[str, str],
    title: str | None = None,
) -> go.Figure:
    """Draw one subplot per measure, each with banded curves per condition."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    for col, series in enumerate(panels.values(), start=1):
        for label, (mean, low, high) in series.items():
            colour = colours[label]
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([epochs, epochs[::-1]]),
                    y=np.concatenate([high, low[::-1]]),
                    fill="toself",
                    fillcolor=colour,
                    opacity=0.18,
                    line=dict(width=0),
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=mean,
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    line=dict(color=colour),
                    hovertemplate=label + "<br>epoch %{x}<br>%{y:.4f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    return _layout(fig, title, 440)
