"""Curves through training, with bands over runs or pairs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from funcsim_lib.figures.common import apply_layout

# label -> (mean or estimate, low, high), each (n_epochs,)
Band = tuple[np.ndarray, np.ndarray, np.ndarray]


def _band_traces(
    epochs: np.ndarray, band: Band, label: str, colour: str, show_legend: bool
) -> tuple[go.Scatter, go.Scatter]:
    """Return a shaded band from low to high and the line through its centre."""
    centre, low, high = (np.asarray(v, dtype=float) for v in band)
    shade = go.Scatter(
        x=np.concatenate([epochs, epochs[::-1]]),
        y=np.concatenate([high, low[::-1]]),
        fill="toself",
        fillcolor=colour,
        opacity=0.18,
        line=dict(width=0),
        hoverinfo="skip",
        legendgroup=label,
        showlegend=False,
    )
    line = go.Scatter(
        x=epochs,
        y=centre,
        mode="lines",
        name=label,
        legendgroup=label,
        showlegend=show_legend,
        line=dict(color=colour),
        customdata=np.stack([low, high], axis=-1),
        hovertemplate=label
        + "<br>epoch %{x}<br>%{y:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}]"
        + "<extra></extra>",
    )
    return shade, line


def curves_with_bands(
    epochs: np.ndarray,
    series: Mapping[str, Band],
    colours: Mapping[str, str],
    y_label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw mean curves with shaded bands; ``series``: label -> (mean, low, high)."""
    fig = go.Figure()
    for label, band in series.items():
        fig.add_traces(_band_traces(epochs, band, label, colours[label], True))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text=y_label)
    return apply_layout(fig, title, 420)


def measures_panel(
    epochs: np.ndarray,
    panels: Mapping[str, Mapping[str, Band]],
    colours: Mapping[str, str],
    title: str | None = None,
) -> go.Figure:
    """Draw one subplot per measure, each with banded curves per condition."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    for col, series in enumerate(panels.values(), start=1):
        for label, band in series.items():
            traces = _band_traces(epochs, band, label, colours[label], col == 1)
            fig.add_traces(traces, rows=1, cols=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    return apply_layout(fig, title, 440)


def margin_panel(
    epochs: np.ndarray,
    panels: Mapping[str, Band],
    colour: str,
    label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw one subplot per measure: an estimate with its interval and a zero line.

    ``panels`` maps a subplot title to (estimate, low, high); ``label`` names
    the curve in the legend.
    """
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    for col, band in enumerate(panels.values(), start=1):
        fig.add_traces(_band_traces(epochs, band, label, colour, col == 1), 1, col)
        fig.add_hline(
            y=0.0, line=dict(color="#888888", width=1, dash="dot"), row=1, col=col
        )
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    return apply_layout(fig, title, 420)
