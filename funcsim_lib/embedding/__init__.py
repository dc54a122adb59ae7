"""Function-space embeddings of training trajectories (after Fort et al. 2019).

Each checkpoint of each run becomes one point: its softmax outputs on a fixed
subset of the test set, flattened (``space``). All points are embedded in one
joint fit with PCA, t-SNE, MDS and a spectral embedding (``methods``), and
``trends`` checks whether the embeddings keep the order of the conditions'
distances from ``base``.
"""

from funcsim_lib.embedding.methods import (
    METHODS,
    Embedding,
    connected_neighbour_graph,
    describe_fit,
    embed_all,
    embed_mds,
    embed_pca,
    embed_spectral,
    embed_tsne,
    trajectories,
    tsne_perplexity,
)
from funcsim_lib.embedding.space import (
    FunctionSpace,
    ReducedSpace,
    distinct_rows,
    from_study,
    function_space,
    principal_components,
    reduce,
    subset_indices,
)
from funcsim_lib.embedding.trends import (
    FUNCTION_SPACE,
    TrendComparison,
    compare_trends,
    describe_agreement,
    distances_to_reference,
)

__all__ = [
    "FUNCTION_SPACE",
    "METHODS",
    "Embedding",
    "FunctionSpace",
    "ReducedSpace",
    "TrendComparison",
    "compare_trends",
    "connected_neighbour_graph",
    "describe_agreement",
    "describe_fit",
    "distances_to_reference",
    "distinct_rows",
    "embed_all",
    "embed_mds",
    "embed_pca",
    "embed_spectral",
    "embed_tsne",
    "from_study",
    "function_space",
    "principal_components",
    "reduce",
    "subset_indices",
    "trajectories",
    "tsne_perplexity",
]
