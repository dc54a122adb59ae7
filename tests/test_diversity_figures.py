import numpy as np

from funcsim_lib import diversity
from funcsim_lib.figures import disagreement as figures


def test_heatmaps_share_scale_and_show_values_on_hover():
    matrices = {
        ("siddo_1", "base"): np.array([[0.0, 0.5], [0.25, 0.1]]),
        ("base", "base"): np.zeros((2, 2)),
    }
    fig = figures.epoch_heatmaps(matrices)
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    assert {t.coloraxis for t in fig.data} == {"coloraxis"}
    np.testing.assert_allclose(fig.data[0].z, [[0, 50], [25, 10]])
    hover = fig.data[0].hovertemplate
    assert "siddo_1 epoch %{y}" in hover
    assert "base epoch %{x}" in hover
    assert "%{z:.1f} %" in hover
    assert fig.layout.yaxis.title.text == "epoch of siddo_1"
    assert fig.layout.xaxis2.title.text == "epoch of base"


def test_diversity_figure_draws_limits_paths_and_reference():
    accuracy = np.array([[0.5, 0.8, 0.9], [0.4, 0.7, 0.85]])
    corrected = np.array([[0.2, 0.4, 0.6], [0.3, 0.9, 1.2]])
    grid = np.linspace(0.4, 0.95, 50)
    limits = diversity.diversity_limits(grid, 0.9, 10)
    fig = figures.diversity_figure(
        ("siddo_1", "disdo_1"),
        {"siddo_1": "siddo", "disdo_1": "disdo"},
        np.array([1, 2, 3]),
        accuracy,
        corrected,
        grid,
        limits,
        ("base", 0.9),
    )
    names = [t.name for t in fig.data]
    assert names[:3] == ["lower limit", "independent errors", "upper limit"]
    assert "siddo_1" in names and "base (reference)" in names
    stars = [t for t in fig.data if t.marker.symbol == "star"]
    assert [list(t.x) for t in stars] == [[0.9], [0.85]]
    assert "epoch %{customdata}" in fig.data[3].hovertemplate
    assert fig.layout.yaxis.range[1] >= corrected.max()
