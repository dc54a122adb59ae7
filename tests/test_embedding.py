import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA

from funcsim_lib import embedding
from funcsim_lib.config import EmbeddingConfig
from funcsim_lib.measures import softmax


@pytest.fixture(scope="module")
def smoke_space(smoke_study):
    return embedding.from_study(smoke_study, EmbeddingConfig(n_inputs=50))


@pytest.fixture(scope="module")
def smoke_embeddings(smoke_space):
    config = EmbeddingConfig(n_inputs=50)
    reduced = embedding.reduce(smoke_space, config)
    return {d: embedding.embed_all(reduced, config, d) for d in (2, 3)}


def test_rows_ordered_run_then_epoch(smoke_study):
    names = [r.name for r in smoke_study.runs]
    logits = smoke_study.logits_of(names)
    inputs = embedding.subset_indices(logits.shape[2], 20, seed=0)
    space = embedding.function_space(logits, tuple(names), inputs)
    n_checkpoints = logits.shape[1]
    assert space.points.shape == (len(names) * n_checkpoints, 20 * 10)
    row = 2 * n_checkpoints + 1
    assert space.row(names[2], 1) == row
    np.testing.assert_allclose(space.points[row], softmax(logits[2, 1, inputs]).ravel())


def test_from_study_uses_study_order(smoke_study, smoke_space):
    assert smoke_space.runs == tuple(r.name for r in smoke_study.runs)
    assert len(smoke_space.inputs) == 50
    assert len(smoke_space.points) == len(smoke_study.runs) * 3


def test_function_space_rejects_bad_shape(smoke_study):
    logits = smoke_study.logits("base")
    with pytest.raises(ValueError, match="logits must have shape"):
        embedding.function_space(logits, ("base",), np.arange(5))


def test_row_rejects_unknown_run_and_epoch(smoke_space):
    with pytest.raises(ValueError, match="unknown run 'nope'"):
        smoke_space.row("nope", 0)
    with pytest.raises(ValueError, match=r"epoch must be in \[0, 2\], got 3"):
        smoke_space.row("base", 3)


@pytest.mark.parametrize("n_components", [2, 3])
def test_pca_matches_sklearn(smoke_space, n_components):
    reduced = embedding.reduce(smoke_space, EmbeddingConfig())
    result = embedding.embed_pca(reduced, n_components)
    direct = PCA(n_components=n_components, svd_solver="full").fit(smoke_space.points)
    np.testing.assert_allclose(
        result.coords, direct.transform(smoke_space.points), atol=1e-10
    )
    np.testing.assert_allclose(
        result.info["explained_variance_ratio"], direct.explained_variance_ratio_
    )
    assert result.axis_labels[0].startswith("PC1 (")


@pytest.mark.parametrize("shape", [(40, 90), (90, 40)], ids=["gram", "covariance"])
def test_principal_components_match_sklearn(shape):
    points = np.random.default_rng(1).normal(size=shape) ** 3
    scores, ratios = embedding.principal_components(points)
    direct = PCA(n_components=min(shape), svd_solver="full").fit(points)
    rank = min(shape) - 1 if shape[0] <= shape[1] else min(shape)
    np.testing.assert_allclose(ratios[:rank], direct.explained_variance_ratio_[:rank])
    np.testing.assert_allclose(
        scores[:, :3], direct.transform(points)[:, :3], rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(pdist(scores), pdist(points), rtol=1e-9)


@pytest.mark.parametrize("n_components", [2, 3])
def test_replica_trajectory_coincides_with_base(
    smoke_space, smoke_embeddings, n_components
):
    n = smoke_space.n_checkpoints
    base = smoke_space.runs.index("base")
    replica = smoke_space.runs.index("replica")
    np.testing.assert_array_equal(
        smoke_space.points[base * n : (base + 1) * n],
        smoke_space.points[replica * n : (replica + 1) * n],
    )
    for method, fit in smoke_embeddings[n_components].items():
        paths = embedding.trajectories(fit, smoke_space)
        assert paths["base"].shape == (n, n_components), method
        # PCA projects each row on its own, so the last bit may differ.
        np.testing.assert_allclose(
            paths["base"], paths["replica"], rtol=0, atol=1e-12, err_msg=method
        )


def test_siddo_runs_start_where_base_starts(smoke_space, smoke_embeddings):
    for method, fit in smoke_embeddings[2].items():
        paths = embedding.trajectories(fit, smoke_space)
        np.testing.assert_allclose(
            paths["siddo_1"][0], paths["base"][0], atol=1e-12, err_msg=method
        )


def test_subset_indices_sorted_unique():
    idx = embedding.subset_indices(100, 30, seed=1)
    assert len(np.unique(idx)) == 30
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(embedding.subset_indices(10, 50, seed=1), range(10))
    with pytest.raises(ValueError, match="at least 1"):
        embedding.subset_indices(100, 0, seed=1)


def test_distinct_rows_keep_first_and_map_back():
    points = np.array([[1.0, 0], [0, 1], [1, 0], [2, 2], [0, 1]])
    distinct, inverse = embedding.distinct_rows(points)
    np.testing.assert_array_equal(distinct, [0, 1, 3])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(points[distinct[inverse]], points)


def test_reduce_without_threshold_keeps_distances(smoke_space):
    reduced = embedding.reduce(smoke_space, EmbeddingConfig(pca_variance=None))
    assert reduced.n_kept == reduced.scores.shape[1]
    assert reduced.retained_variance == pytest.approx(1.0)
    np.testing.assert_allclose(
        pdist(reduced.scores), pdist(smoke_space.points), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("share", [0.5, 0.9, 0.99])
def test_reduce_keeps_fewest_components_reaching_share(smoke_space, share):
    reduced = embedding.reduce(smoke_space, EmbeddingConfig(pca_variance=share))
    cumulative = np.cumsum(reduced.explained_variance_ratio)
    assert cumulative[reduced.n_kept - 1] >= share - 1e-12
    if reduced.n_kept > 1:
        assert cumulative[reduced.n_kept - 2] < share
    assert reduced.inputs_for_methods().shape == (
        len(reduced.distinct),
        reduced.n_kept,
    )


def test_embedding_config_validated():
    with pytest.raises(ValueError, match="pca_variance must be in"):
        EmbeddingConfig(pca_variance=1.5)
    with pytest.raises(ValueError, match="perplexity must be positive"):
        EmbeddingConfig(perplexity=0)
    with pytest.raises(ValueError, match="tsne_max_iter must be at least 250"):
        EmbeddingConfig(tsne_max_iter=100)
    with pytest.raises(ValueError, match="spectral_n_neighbors must be at least 2"):
        EmbeddingConfig(spectral_n_neighbors=1)
