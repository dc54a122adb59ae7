"""Figures of prediction disagreement: epoch-by-epoch heatmaps, diversity plane."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from funcsim_lib.figures.common import CONDITION_COLOURS, apply_layout

LIMIT_STYLES = {
    "lower": dict(dash="dash", color="#555555"),
    "independent": dict(dash="dot", color="#2ca02c"),
    "upper": dict(dash="dash", color="#555555"),
}


def epoch_heatmaps(
    matrices: Mapping[tuple[str, str], np.ndarray],
    title: str | None = None,
) -> go.Figure:
    """Draw one heatmap per pair of runs, side by side, on one colour scale.

    ``matrices`` maps ``(compared, reference)`` to a matrix ``(n_epochs_a,
    n_epochs_b)`` of shares in [0, 1], drawn in percent: row ``i`` is epoch
    ``i`` of the compared run, column ``j`` epoch ``j`` of the reference. The
    hover shows both epochs and the value.
    """
    if not matrices:
        raise ValueError("matrices must contain at least one pair, got none")
    names = [f"{a} vs {b}" for a, b in matrices]
    fig = make_subplots(
        rows=1, cols=len(matrices), subplot_titles=names, horizontal_spacing=0.09
    )
    for col, ((compared, reference), matrix) in enumerate(matrices.items(), start=1):
        fig.add_trace(
            go.Heatmap(
                z=100 * np.asarray(matrix),
                x=np.arange(matrix.shape[1]),
                y=np.arange(matrix.shape[0]),
                coloraxis="coloraxis",
                hovertemplate=(
                    f"{compared} epoch %{{y}}<br>{reference} epoch %{{x}}"
                    "<br>disagreement %{z:.1f} %<extra></extra>"
                ),
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=f"epoch of {reference}", row=1, col=col)
        fig.update_yaxes(title_text=f"epoch of {compared}", row=1, col=col)
    fig.update_layout(
        coloraxis=dict(
            colorscale="Viridis", cmin=0, colorbar=dict(title="disagreement (%)")
        )
    )
    return apply_layout(fig, title, 420)


def diversity_figure(
    runs: Sequence[str],
    conditions: Mapping[str, str],
    epochs: np.ndarray,
    accuracy: np.ndarray,
    corrected: np.ndarray,
    limits_accuracy: np.ndarray,
    limits: Mapping[str, np.ndarray],
    reference: tuple[str, float],
    title: str | None = None,
) -> go.Figure:
    """Draw Fort's diversity plane: each run's path, and the analytic limits.

    ``accuracy`` and ``corrected`` are ``(n_runs, n_epochs_plotted)`` for the
    ``epochs`` given, in the order of ``runs``; the last epoch gets a star.
    ``limits`` maps a limit's name (``lower``, ``independent``, ``upper``) to
    its values at ``limits_accuracy``. ``reference`` is the compared-with
    run's name and accuracy, drawn as a cross on the x-axis.
    """
    fig = go.Figure()
    for name, values in limits.items():
        fig.add_trace(
            go.Scatter(
                x=limits_accuracy,
                y=values,
                mode="lines",
                name=f"{name} limit" if name != "independent" else "independent errors",
                line=dict(width=1.2, **LIMIT_STYLES.get(name, {})),
                hoverinfo="skip",
            )
        )
    for i, run in enumerate(runs):
        colour = CONDITION_COLOURS[conditions[run]]
        fig.add_trace(
            go.Scatter(
                x=accuracy[i],
                y=corrected[i],
                mode="lines+markers",
                name=run,
                legendgroup=run,
                line=dict(color=colour, width=1),
                marker=dict(color=colour, size=5, opacity=0.6),
                customdata=epochs,
                hovertemplate=(
                    run + "<br>epoch %{customdata}<br>accuracy %{x:.3f}"
                    "<br>disagreement / error %{y:.3f}<extra></extra>"
                ),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=accuracy[i, -1:],
                y=corrected[i, -1:],
                mode="markers",
                showlegend=False,
                legendgroup=run,
                hoverinfo="skip",
                marker=dict(symbol="star", size=14, color=colour),
            )
        )
    name, value = reference
    fig.add_trace(
        go.Scatter(
            x=[value],
            y=[0],
            mode="markers",
            name=f"{name} (reference)",
            marker=dict(symbol="x", size=11, color=CONDITION_COLOURS["base"]),
            hovertemplate=f"{name}<br>accuracy %{{x:.3f}}<extra></extra>",
        )
    )
    finite = corrected[np.isfinite(corrected)]
    top = max(2.5, 1.15 * float(finite.max())) if finite.size else 2.5
    fig.update_xaxes(title_text="accuracy of the compared model")
    fig.update_yaxes(
        title_text="disagreement with the reference / error", range=[0, top]
    )
    return apply_layout(fig, title, 520)
