import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from funcsim_lib import embedding
from funcsim_lib.config import EmbeddingConfig
from funcsim_lib.embedding import methods

SMOKE = EmbeddingConfig(n_inputs=50)


@pytest.fixture(scope="module")
def smoke_reduced(smoke_study):
    space = embedding.from_study(smoke_study, SMOKE)
    return embedding.reduce(space, SMOKE)


def two_clusters(n_per_cluster: int = 8, gap: float = 100.0) -> embedding.ReducedSpace:
    """Two trajectories far apart: a 2-neighbour graph cannot join them."""
    steps = np.arange(n_per_cluster, dtype=float)[:, None] * np.array([[1.0, 0.5]])
    points = np.vstack([steps, steps + gap])
    space = embedding.FunctionSpace(points, ("a", "b"), n_per_cluster - 1, np.arange(1))
    return embedding.reduce(space, EmbeddingConfig(pca_variance=None))


def test_small_study_lowers_perplexity_and_says_so(smoke_reduced, caplog):
    n_distinct = len(smoke_reduced.distinct)
    assert n_distinct < 3 * SMOKE.perplexity  # too few for the default
    with caplog.at_level("INFO", logger="funcsim_lib.embedding.methods"):
        fit = embedding.embed_tsne(smoke_reduced, SMOKE)
    assert fit.info["perplexity"] == pytest.approx((n_distinct - 1) / 3)
    assert fit.info["perplexity_requested"] == 30.0
    assert "lowered from 30" in embedding.describe_fit(fit)
    assert "too large" in caplog.text
    assert np.all(np.isfinite(fit.coords))


def test_perplexity_kept_where_points_suffice():
    assert embedding.tsne_perplexity(30.0, 248) == 30.0
    assert embedding.tsne_perplexity(30.0, 13) == 4.0
    with pytest.raises(ValueError, match="at least 2 distinct points, got 1"):
        embedding.tsne_perplexity(30.0, 1)


def test_fits_are_deterministic(smoke_reduced):
    first = embedding.embed_all(smoke_reduced, SMOKE)
    second = embedding.embed_all(smoke_reduced, SMOKE)
    for method in embedding.METHODS:
        np.testing.assert_array_equal(
            first[method].coords, second[method].coords, err_msg=method
        )


def test_fits_raise_no_warnings(smoke_reduced):
    # FutureWarning for a default about to change, or a graph not connected.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n_components in (2, 3):
            fits = embedding.embed_all(smoke_reduced, SMOKE, n_components)
            assert list(fits) == list(embedding.METHODS)


class Recorder:
    """Stand-in for a scikit-learn estimator that keeps its arguments."""

    calls: dict = {}

    def __init__(self, cls):
        self.cls = cls

    def __call__(self, **kwargs):
        Recorder.calls[self.cls.__name__] = kwargs
        return self.cls(**kwargs)


@pytest.mark.parametrize(
    "name, changed",
    [
        ("TSNE", {"init", "learning_rate", "max_iter", "perplexity", "random_state"}),
        (
            "MDS",
            {"n_init", "init", "eps", "metric_mds", "metric", "normalized_stress"},
        ),
        ("SpectralEmbedding", {"eigen_tol", "eigen_solver", "affinity"}),
    ],
)
def test_changed_defaults_passed_explicitly(smoke_reduced, monkeypatch, name, changed):
    monkeypatch.setattr(methods, name, Recorder(getattr(methods, name)))
    embedding.embed_all(smoke_reduced, SMOKE)
    passed = Recorder.calls[name]
    assert changed <= set(passed)
    assert None not in (passed[key] for key in changed - {"random_state"})


def test_mds_reports_stress_of_its_coordinates(smoke_reduced):
    fit = embedding.embed_mds(smoke_reduced, SMOKE)
    target = pdist(smoke_reduced.inputs_for_methods())
    fitted = pdist(fit.coords[smoke_reduced.distinct])
    stress_1 = np.sqrt(((fitted - target) ** 2).sum() / (target**2).sum())
    # scikit-learn reports the stress before its last update.
    assert fit.info["stress"] == pytest.approx(stress_1, rel=0.05)
    assert 0 < fit.info["stress"] < 1
    assert "Stress-1" in embedding.describe_fit(fit)


def test_disconnected_graph_gets_fewest_connecting_neighbours():
    reduced = two_clusters()
    x = reduced.inputs_for_methods()
    graph, used, pieces = embedding.connected_neighbour_graph(x, 2)
    assert pieces > 1
    assert methods.count_components(graph) == 1
    neighbours = methods.NearestNeighbors(n_neighbors=used).fit(x).kneighbors(x)[1]
    fewer = methods.neighbour_graph(neighbours, used - 1)
    assert methods.count_components(fewer) > 1


def test_spectral_reports_raised_neighbours():
    reduced = two_clusters()
    config = EmbeddingConfig(spectral_n_neighbors=2, pca_variance=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = embedding.embed_spectral(reduced, config)
    assert fit.info["n_neighbors_requested"] == 2
    assert fit.info["graph_components_requested"] > 1
    assert fit.info["n_neighbors"] > 2
    assert "connected components" in embedding.describe_fit(fit)
    assert np.all(np.isfinite(fit.coords))


def test_connected_graph_keeps_requested_neighbours(smoke_reduced):
    x = smoke_reduced.inputs_for_methods()
    graph, used, pieces = embedding.connected_neighbour_graph(x, len(x) - 1)
    assert (used, pieces) == (len(x) - 1, 1)
    np.testing.assert_allclose((graph - graph.T).toarray(), 0)


def test_neighbour_graph_matches_sklearn():
    from sklearn.neighbors import kneighbors_graph

    x = np.random.default_rng(0).normal(size=(30, 4))
    neighbours = methods.NearestNeighbors(n_neighbors=5).fit(x).kneighbors(x)[1]
    ours = methods.neighbour_graph(neighbours, 5).toarray()
    theirs = kneighbors_graph(x, 5, include_self=True)
    np.testing.assert_allclose(ours, (0.5 * (theirs + theirs.T)).toarray())


def test_too_few_points_rejected():
    points = np.eye(3)
    space = embedding.FunctionSpace(points, ("a",), 2, np.arange(1))
    reduced = embedding.reduce(space, EmbeddingConfig())
    with pytest.raises(ValueError, match="at least 4 distinct checkpoints, got 3"):
        embedding.embed_mds(reduced, EmbeddingConfig())
    with pytest.raises(ValueError, match="n_components must be 1, 2 or 3, got 4"):
        embedding.embed_pca(reduced, 4)
