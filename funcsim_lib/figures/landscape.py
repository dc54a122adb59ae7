"""Figures of loss landscapes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from funcsim_lib.figures.common import apply_layout


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
    return apply_layout(fig, title, 440)
