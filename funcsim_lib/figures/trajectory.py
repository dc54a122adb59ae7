"""Figures of trajectories in function space, in 2D and 3D.

Every 3D scene of a page needs its own WebGL context, and browsers keep only
about 8 to 16 per page, so the 3D figure draws all methods in one scene and
switches between them with a menu.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from funcsim_lib.figures.common import CONDITION_COLOURS, apply_layout

# One panel: each run's (n_epochs + 1, n_components) coordinates and the axis
# labels. The panel's title is its key in the mapping passed in.
Panel = tuple[Mapping[str, np.ndarray], Sequence[str]]


def run_traces(
    run: str, coords: np.ndarray, condition: str, show_legend: bool = True
) -> list[go.Scatter | go.Scatter3d]:
    """Return a run's path, epoch on hover, and its start and end markers."""
    colour = CONDITION_COLOURS[condition]
    dash = "dot" if condition == "replica" else "solid"
    epochs = np.arange(len(coords))
    common = dict(legendgroup=run, customdata=epochs)
    hover = run + "<br>epoch %{customdata}<extra></extra>"
    if coords.shape[1] == 3:
        xyz = dict(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2])
        ends = dict(x=coords[[0, -1], 0], y=coords[[0, -1], 1], z=coords[[0, -1], 2])
        path = go.Scatter3d(
            **xyz,
            mode="lines+markers",
            name=run,
            showlegend=show_legend,
            line=dict(color=colour, dash=dash, width=3),
            marker=dict(size=2, color=colour),
            hovertemplate=hover,
            **common,
        )
        marks = go.Scatter3d(
            **ends,
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            legendgroup=run,
            marker=dict(symbol=["circle-open", "diamond"], size=[7, 6], color=colour),
        )
        return [path, marks]
    path = go.Scatter(
        x=coords[:, 0],
        y=coords[:, 1],
        mode="lines+markers",
        name=run,
        showlegend=show_legend,
        line=dict(color=colour, dash=dash, width=1.5),
        marker=dict(size=4, color=colour),
        hovertemplate=hover,
        **common,
    )
    marks = go.Scatter(
        x=coords[[0, -1], 0],
        y=coords[[0, -1], 1],
        mode="markers",
        showlegend=False,
        hoverinfo="skip",
        legendgroup=run,
        marker=dict(symbol=["circle-open", "star"], size=[11, 13], color=colour),
    )
    return [path, marks]


def trajectory_figure(
    trajectories: Mapping[str, np.ndarray],
    conditions: Mapping[str, str],
    axis_labels: Sequence[str],
    title: str | None = None,
) -> go.Figure:
    """Draw each run's checkpoints as a line, start and end marked, epoch on hover.

    ``trajectories`` maps a run to its ``(n_epochs + 1, 2)`` coordinates and
    ``conditions`` a run to its condition, which sets the colour.
    """
    fig = go.Figure()
    for run, coords in trajectories.items():
        fig.add_traces(run_traces(run, coords[:, :2], conditions[run]))
    fig.update_xaxes(title_text=axis_labels[0])
    fig.update_yaxes(title_text=axis_labels[1])
    return apply_layout(fig, title, 540)


def methods_figure(
    panels: Mapping[str, Panel],
    conditions: Mapping[str, str],
    title: str | None = None,
    columns: int = 2,
) -> go.Figure:
    """Draw one 2D trajectory panel per method in a grid, one legend for all.

    ``panels`` maps a panel title to ``(trajectories, axis_labels)`` as taken
    by ``trajectory_figure``. Clicking a run in the legend hides it in every
    panel.
    """
    if not panels:
        raise ValueError("panels must contain at least one method, got none")
    rows = -(-len(panels) // columns)
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=list(panels),
        horizontal_spacing=0.1,
        vertical_spacing=0.14,
    )
    for i, (trajectories, axis_labels) in enumerate(panels.values()):
        row, col = divmod(i, columns)
        for run, coords in trajectories.items():
            traces = run_traces(run, coords[:, :2], conditions[run], i == 0)
            for trace in traces:
                fig.add_trace(trace, row=row + 1, col=col + 1)
        fig.update_xaxes(title_text=axis_labels[0], row=row + 1, col=col + 1)
        fig.update_yaxes(title_text=axis_labels[1], row=row + 1, col=col + 1)
    return apply_layout(fig, title, 420 * rows)


def trajectory_figure_3d(
    panels: Mapping[str, Panel],
    conditions: Mapping[str, str],
    title: str | None = None,
) -> go.Figure:
    """Draw 3D trajectories of several methods in one scene, with a menu.

    ``panels`` maps a method's title to ``(trajectories, axis_labels)`` with
    ``(n_epochs + 1, 3)`` coordinates per run. The menu shows one method at a
    time, so the figure needs a single WebGL context however many methods it
    holds.
    """
    if not panels:
        raise ValueError("panels must contain at least one method, got none")
    fig = go.Figure()
    owners = []
    for i, (trajectories, _) in enumerate(panels.values()):
        for run, coords in trajectories.items():
            if coords.shape[1] != 3:
                raise ValueError(
                    f"trajectories must have 3 columns, got {coords.shape} for {run!r}"
                )
            for trace in run_traces(run, coords, conditions[run]):
                trace.visible = i == 0
                fig.add_trace(trace)
                owners.append(i)
    buttons = []
    for i, (label, (_, axis_labels)) in enumerate(panels.items()):
        axes = {
            f"scene.{axis}axis.title.text": text
            for axis, text in zip("xyz", axis_labels)
        }
        visible = [owner == i for owner in owners]
        buttons.append(
            dict(label=label, method="update", args=[{"visible": visible}, axes])
        )
    first_labels = next(iter(panels.values()))[1]
    fig.update_layout(
        scene=dict(
            xaxis_title=first_labels[0],
            yaxis_title=first_labels[1],
            zaxis_title=first_labels[2],
            aspectmode="cube",
        ),
        updatemenus=[
            dict(
                buttons=buttons,
                direction="right",
                type="buttons",
                x=0,
                y=1.0,
                xanchor="left",
                yanchor="bottom",
                showactive=True,
            )
        ],
    )
    apply_layout(fig, title, 680)
    # Room for the menu between the title and the scene.
    fig.update_layout(margin=dict(t=120 if title else 70))
    return fig


def count_3d_scenes(fig: go.Figure) -> int:
    """Return the number of 3D scenes in ``fig``: WebGL contexts in a browser.

    plotly.js draws each 3D scene on its own canvas with its own WebGL
    context; its SVG traces need none.
    """
    return len({trace.scene or "scene" for trace in fig.data if trace.type in GL3D})


GL3D = {"scatter3d", "surface", "mesh3d", "cone", "streamtube", "isosurface", "volume"}


def trend_figure(
    methods: Sequence[str],
    series: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    colours: Mapping[str, str],
    y_label: str,
    title: str | None = None,
) -> go.Figure:
    """Draw grouped bars per method, with error bars from low to high.

    ``series`` maps a label to ``(mean, low, high)``, each ``(n_methods,)`` in
    the order of ``methods``.
    """
    fig = go.Figure()
    for label, (mean, low, high) in series.items():
        fig.add_trace(
            go.Bar(
                x=list(methods),
                y=mean,
                name=label,
                marker_color=colours[label],
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=high - mean,
                    arrayminus=mean - low,
                ),
                hovertemplate=label + "<br>%{x}<br>mean %{y:.3f}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=y_label, rangemode="tozero")
    return apply_layout(fig, title, 420)
