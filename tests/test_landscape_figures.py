"""Landscape figures: shared scales, gaps for non-finite values, scene counts."""

import numpy as np
import plotly.graph_objects as go
import pytest

from funcsim_lib.figures import landscape as plots

ALPHAS = np.linspace(-1, 1, 5)
BETAS = np.linspace(-1, 1, 3)


def surfaces():
    base = np.arange(15, dtype=float).reshape(5, 3)
    far = base + 100
    far[0, 0], far[4, 2] = np.inf, np.nan
    return {"base": base, "disdo_1": far}


def scenes(fig: go.Figure) -> list[str]:
    return [key for key in fig.layout.to_plotly_json() if key.startswith("scene")]


def test_contours_share_finite_scale():
    fig = plots.landscape_contours(ALPHAS, BETAS, surfaces(), "test loss")
    contours = [t for t in fig.data if isinstance(t, go.Contour)]
    assert len(contours) == 2
    assert fig.layout.coloraxis.cmin == 0.0
    assert fig.layout.coloraxis.cmax == 113.0
    z = np.array(contours[1].z, dtype=float)
    assert z.shape == (3, 5)
    assert np.isnan(z[0, 0])
    assert np.isnan(z[2, 4])
    assert scenes(fig) == []


def test_surfaces_one_scene_per_model():
    fig = plots.landscape_surfaces(ALPHAS, BETAS, surfaces(), "test loss")
    assert len(scenes(fig)) == 2
    assert all(isinstance(t, go.Surface) for t in fig.data)
    assert tuple(fig.layout.scene.zaxis.range) == (0.0, 113.0)
    assert tuple(fig.layout.scene2.zaxis.range) == (0.0, 113.0)
    assert np.isnan(np.array(fig.data[1].z, dtype=float)[0, 0])


def test_all_non_finite_still_draws():
    empty = {"base": np.full((5, 3), np.nan), "siddo_1": np.full((5, 3), np.inf)}
    for build in (plots.landscape_contours, plots.landscape_surfaces):
        fig = build(ALPHAS, BETAS, empty, "test loss")
        assert fig.layout.coloraxis.cmin is None
    assert plots.shared_range(empty) is None


def test_wrong_shape_rejected():
    with pytest.raises(ValueError, match=r"surface 'base' must be \(n_alpha, n_beta\)"):
        plots.landscape_contours(ALPHAS, BETAS, {"base": np.zeros((3, 5))}, "loss")
    with pytest.raises(ValueError, match="at least one landscape"):
        plots.landscape_surfaces(ALPHAS, BETAS, {}, "loss")


def test_interpolation_curves_in_percent():
    alphas = np.linspace(-0.5, 1.5, 5)
    losses = {"base → siddo_1": np.array([1.0, 0.2, np.inf, 0.3, 1.2])}
    errors = {"base → siddo_1": np.array([0.5, 0.1, 0.2, 0.1, 0.6])}
    fig = plots.interpolation_curves(alphas, losses, errors, title="lines")
    loss_trace, error_trace = fig.data
    assert np.isnan(np.array(loss_trace.y, dtype=float)[2])
    np.testing.assert_allclose(error_trace.y, [50, 10, 20, 10, 60])
    assert loss_trace.showlegend and not error_trace.showlegend
    with pytest.raises(ValueError, match="same labels"):
        plots.interpolation_curves(alphas, losses, {}, title="lines")
    with pytest.raises(ValueError, match="must have 5 values"):
        plots.interpolation_curves(alphas, {"a": np.zeros(3)}, {"a": np.zeros(3)})


def test_model_plane_marks_each_model():
    points = {"base": (0.0, 0.0), "siddo_1": (1.0, 0.0), "disdo_1": (0.4, 0.9)}
    values = np.random.default_rng(0).random((5, 3))
    fig = plots.model_plane(ALPHAS, BETAS, values, points, "test loss")
    markers = [t for t in fig.data if isinstance(t, go.Scatter)]
    assert [m.name for m in markers] == list(points)
    assert markers[1].marker.color == plots.run_colour("siddo_1")
    assert scenes(fig) == []


def test_run_colours_follow_condition():
    assert plots.run_colour("siddo_3") == plots.run_colour("siddo_1")
    assert plots.run_colour("base") != plots.run_colour("disdo_1")
