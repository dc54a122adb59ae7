import numpy as np
import pytest
from sklearn.decomposition import PCA

from funcsim_lib import embedding
from funcsim_lib.measures import softmax


def test_rows_ordered_run_then_epoch(smoke_study):
    names = [r.name for r in smoke_study.runs]
    logits = smoke_study.logits_of(names)
    inputs = embedding.subset_indices(logits.shape[2], 20, seed=0)
    space = embedding.function_space(logits, tuple(names), inputs)
    n_checkpoints = logits.shape[1]
    assert space.points.shape == (len(names) * n_checkpoints, 20 * 10)
    row = 2 * n_checkpoints + 1
    np.testing.assert_allclose(space.points[row], softmax(logits[2, 1, inputs]).ravel())


def test_pca_matches_sklearn(smoke_study):
    names = [r.name for r in smoke_study.runs]
    logits = smoke_study.logits_of(names)
    space = embedding.function_space(logits, tuple(names), np.arange(30))
    result = embedding.embed_pca(space)
    direct = PCA(n_components=2, svd_solver="full").fit_transform(space.points)
    np.testing.assert_allclose(result.coords, direct, atol=1e-10)
    assert result.axis_labels[0].startswith("PC1 (")


def test_replica_trajectory_coincides_with_base(smoke_study):
    names = [r.name for r in smoke_study.runs]
    space = embedding.function_space(
        smoke_study.logits_of(names), tuple(names), np.arange(30)
    )
    n = space.n_epochs + 1
    base, replica = names.index("base"), names.index("replica")
    np.testing.assert_array_equal(
        space.points[base * n : (base + 1) * n],
        space.points[replica * n : (replica + 1) * n],
    )
    # Identical rows may still differ in the last bit after BLAS's projection.
    paths = embedding.trajectories(embedding.embed_pca(space), space)
    np.testing.assert_allclose(paths["base"], paths["replica"], rtol=0, atol=1e-12)


def test_subset_indices_sorted_unique():
    idx = embedding.subset_indices(100, 30, seed=1)
    assert len(np.unique(idx)) == 30 and np.all(np.diff(idx) > 0)
    with pytest.raises(ValueError, match="at least 1"):
        embedding.subset_indices(100, 0, seed=1)
