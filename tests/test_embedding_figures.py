import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from funcsim_lib.figures import trajectory

CONDITIONS = {"base": "base", "siddo_1": "siddo", "replica": "replica"}


def paths(n_components: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n_components)
    return {run: rng.normal(size=(4, n_components)) + shift for run in CONDITIONS}


def test_2d_traces_mark_start_end_and_epoch():
    fig = trajectory.trajectory_figure(paths(2), CONDITIONS, ("a", "b"))
    lines = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in lines] == list(CONDITIONS)
    assert "epoch %{customdata}" in lines[0].hovertemplate
    np.testing.assert_array_equal(lines[0].customdata, range(4))
    marks = fig.data[1]
    assert list(marks.marker.symbol) == ["circle-open", "star"]
    assert fig.data[4].line.dash == "dot"  # the replica


def test_methods_figure_one_legend_entry_per_run():
    panels = {f"method {i}": (paths(2, i), (f"x{i}", f"y{i}")) for i in range(4)}
    fig = trajectory.methods_figure(panels, CONDITIONS)
    legend_names = [t.name for t in fig.data if t.showlegend]
    assert legend_names == list(CONDITIONS)
    assert len(fig.data) == 4 * 2 * len(CONDITIONS)
    assert fig.layout.xaxis4.title.text == "x3"
    assert [a.text for a in fig.layout.annotations] == list(panels)


def test_3d_methods_share_one_scene():
    panels = {f"method {i}": (paths(3, i), ("x", "y", f"z{i}")) for i in range(4)}
    fig = trajectory.trajectory_figure_3d(panels, CONDITIONS)
    assert trajectory.count_3d_scenes(fig) == 1
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == list(panels)
    per_method = 2 * len(CONDITIONS)
    visible = buttons[2].args[0]["visible"]
    assert sum(visible) == per_method
    assert visible[2 * per_method : 3 * per_method] == [True] * per_method
    assert buttons[2].args[1]["scene.zaxis.title.text"] == "z2"
    assert [t.visible for t in fig.data[:per_method]] == [True] * per_method
    assert not any(t.visible for t in fig.data[per_method:])


def test_3d_rejects_2d_coordinates():
    with pytest.raises(ValueError, match="must have 3 columns"):
        trajectory.trajectory_figure_3d({"m": (paths(2), ("x", "y"))}, CONDITIONS)


def test_scene_count_counts_each_scene_once():
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}] * 2])
    for col in (1, 2):
        for _ in range(2):
            fig.add_trace(go.Scatter3d(x=[0], y=[0], z=[0]), row=1, col=col)
    fig.add_trace(go.Scatter(x=[0], y=[0]))
    assert trajectory.count_3d_scenes(fig) == 2
    assert trajectory.count_3d_scenes(go.Figure(go.Scatter(x=[0], y=[0]))) == 0


def test_trend_bars_have_asymmetric_whiskers():
    mean, low, high = np.array([1.0, 2.0]), np.array([0.5, 1.5]), np.array([2.0, 2.5])
    fig = trajectory.trend_figure(
        ["function space", "PCA"],
        {"SIDDO": (mean, low, high)},
        {"SIDDO": "#123456"},
        "distance",
    )
    bar = fig.data[0]
    np.testing.assert_allclose(bar.error_y.array, [1.0, 0.5])
    np.testing.assert_allclose(bar.error_y.arrayminus, [0.5, 0.5])
