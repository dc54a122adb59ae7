"""Figures of trajectories in function space."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from funcsim_lib.figures.common import CONDITION_COLOURS, apply_layout


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
    return apply_layout(fig, title, 540)
