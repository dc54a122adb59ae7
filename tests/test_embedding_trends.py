import numpy as np
import pytest

from funcsim_lib import embedding
from funcsim_lib.config import EmbeddingConfig
from funcsim_lib.embedding import FUNCTION_SPACE

RUNS = ("base", "siddo_1", "siddo_2", "disdo_1", "disdo_2")
CONDITIONS = {
    "base": "base",
    "siddo_1": "siddo",
    "siddo_2": "siddo",
    "disdo_1": "disdo",
    "disdo_2": "disdo",
}


def toy_space(siddo_end: float, disdo_end: float) -> embedding.FunctionSpace:
    """Runs that drift from base along their own axis, to a given distance."""
    n_checkpoints, n_dims = 5, 6
    epochs = np.linspace(0, 1, n_checkpoints)[:, None]
    paths = []
    for i, run in enumerate(RUNS):
        path = np.zeros((n_checkpoints, n_dims))
        path[:, 0] = epochs[:, 0]  # every run moves along axis 0 as it trains
        if run != "base":
            end = siddo_end if run.startswith("siddo") else disdo_end
            path[:, i] = end * epochs[:, 0] * (1 + 0.1 * (i % 2))
        paths.append(path)
    return embedding.FunctionSpace(
        np.vstack(paths), RUNS, n_checkpoints - 1, np.arange(3)
    )


def fake_embedding(coords: np.ndarray, method: str) -> embedding.Embedding:
    return embedding.Embedding(coords, method, ("1", "2"), "")


def test_reference_row_is_zero_and_scale_free():
    space = toy_space(2.0, 1.0)
    distances = embedding.distances_to_reference(space.points, space)
    assert distances.shape == (len(RUNS), 5)
    np.testing.assert_array_equal(distances[0], 0)
    scaled = embedding.distances_to_reference(10 * space.points + 3, space)
    np.testing.assert_allclose(scaled, distances)


def test_distances_reject_unknown_reference():
    space = toy_space(2.0, 1.0)
    with pytest.raises(ValueError, match="reference must be one of"):
        embedding.distances_to_reference(space.points, space, reference="nope")


def test_faithful_embedding_agrees_and_flipped_does_not():
    space = toy_space(siddo_end=2.0, disdo_end=1.0)
    faithful = fake_embedding(space.points[:, :5] * 3, "kept")
    per_run = space.per_run(space.points.copy())
    flipped = per_run.copy()
    flipped[1:3], flipped[3:5] = per_run[3:5], per_run[1:3]
    swapped = fake_embedding(flipped.reshape(len(space.points), -1), "swapped")
    comparison = embedding.compare_trends(
        space, {"kept": faithful, "swapped": swapped}, CONDITIONS
    )
    assert comparison.methods == (FUNCTION_SPACE, "kept", "swapped")
    assert comparison.order(FUNCTION_SPACE) == ("disdo", "siddo")
    assert comparison.agrees("kept")
    assert not comparison.agrees("swapped")
    assert comparison.correlation[FUNCTION_SPACE] == pytest.approx(1.0)
    assert comparison.correlation["kept"] == pytest.approx(1.0)
    text = embedding.describe_agreement(comparison)
    assert "the DISDO runs end closest to base" in text
    assert "ranges over runs do not overlap" in text
    assert "kept agrees on this order, but swapped does not" in text


def test_tie_reported_as_equal():
    space = toy_space(siddo_end=1.0, disdo_end=1.0)
    # Both conditions use the same pair of scales, so their means tie.
    comparison = embedding.compare_trends(space, {}, CONDITIONS)
    assert comparison.order(FUNCTION_SPACE) is None
    assert "end equally far from base" in embedding.describe_agreement(comparison)


def test_end_spread_per_method():
    space = toy_space(2.0, 1.0)
    comparison = embedding.compare_trends(
        space, {"kept": fake_embedding(space.points, "kept")}, CONDITIONS
    )
    mean, low, high = comparison.end_spread("siddo")
    assert mean.shape == (2,)
    assert np.all(low <= mean)
    assert np.all(mean <= high)
    np.testing.assert_allclose(mean[0], mean[1])


def test_condition_without_runs_rejected():
    space = toy_space(2.0, 1.0)
    with pytest.raises(ValueError, match=r"conditions \['replica'\] have no run"):
        embedding.compare_trends(space, {}, CONDITIONS, conditions=("replica",))


def test_smoke_study_verdict_names_every_method(smoke_study):
    config = EmbeddingConfig(n_inputs=50)
    space = embedding.from_study(smoke_study, config)
    fits = embedding.embed_all(embedding.reduce(space, config), config)
    conditions = {r.name: r.condition for r in smoke_study.runs}
    comparison = embedding.compare_trends(space, fits, conditions)
    text = embedding.describe_agreement(comparison)
    agreeing = [m for m in embedding.METHODS if comparison.agrees(m)]
    if len(agreeing) == len(embedding.METHODS):
        assert "all four embeddings agree" in text
    else:
        for method in embedding.METHODS:
            name = "the spectral embedding" if method == "spectral" else method
            assert name in text
