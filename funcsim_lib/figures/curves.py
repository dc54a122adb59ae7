"""Curves through training, with bands over runs or pairs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from funcsim_lib.figures.common import apply_layout


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
    return apply_layout(fig, title, 420)


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
    return apply_layout(fig, title, 440)
