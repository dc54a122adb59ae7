"""Joint 2D and 3D embeddings of every checkpoint: PCA, t-SNE, MDS, spectral.

Each method fits all checkpoints of all runs at once. Every scikit-learn
parameter whose default changed between releases is passed explicitly, so
that another release fits the same model. These are, with the release of the
change (from the scikit-learn 1.9.1 docstrings):

- t-SNE: ``init`` and ``learning_rate`` (1.2), ``max_iter`` (renamed in 1.5);
- MDS: ``normalized_stress`` (1.4), ``eps`` (1.7), ``metric_mds`` and
  ``metric`` (1.8), ``n_init`` (1.9), ``init`` (to change in 1.10);
- the spectral embedding: ``eigen_tol`` (added in 1.2 with default "auto").

Results are deterministic for a given seed, machine and thread count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.manifold import MDS, TSNE, SpectralEmbedding
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from funcsim_lib.config import EmbeddingConfig
from funcsim_lib.embedding.space import FunctionSpace, ReducedSpace

log = logging.getLogger(__name__)

METHODS = ("PCA", "t-SNE", "MDS", "spectral")


@dataclass(frozen=True)
class Embedding:
    """Coordinates of every checkpoint, in the row order of ``FunctionSpace``."""

    coords: np.ndarray  # (n_points, n_components)
    method: str  # one of METHODS
    axis_labels: tuple[str, ...]
    summary: str  # the setting or fit quality worth a figure title
    info: dict = field(default_factory=dict)  # what the fit used and reported

    @property
    def title(self) -> str:
        return f"{self.method} ({self.summary})"


def check_components(n_components: int, reduced: ReducedSpace) -> None:
    """Raise ``ValueError`` unless the methods can fit ``n_components``."""
    if n_components not in (1, 2, 3):
        raise ValueError(f"n_components must be 1, 2 or 3, got {n_components!r}")
    # The spectral embedding needs one eigenvector more than it returns.
    if len(reduced.distinct) < n_components + 2:
        raise ValueError(
            f"embedding in {n_components}D needs at least {n_components + 2} "
            f"distinct checkpoints, got {len(reduced.distinct)}"
        )


def embed_pca(reduced: ReducedSpace, n_components: int = 2) -> Embedding:
    """Embed every checkpoint on its leading principal components.

    The coordinates are those of ``sklearn.decomposition.PCA`` with
    ``svd_solver="full"`` fitted to all points. The axis labels carry the
    share of the variance each component explains.
    """
    check_components(n_components, reduced)
    ratios = reduced.explained_variance_ratio[:n_components]
    coords = reduced.scores[:, :n_components]
    if coords.shape[1] < n_components:  # the points span fewer dimensions
        missing = n_components - coords.shape[1]
        coords = np.hstack([coords, np.zeros((len(coords), missing))])
        ratios = np.concatenate([ratios, np.zeros(missing)])
    labels = tuple(f"PC{i + 1} ({100 * r:.1f} %)" for i, r in enumerate(ratios))
    info = {"explained_variance_ratio": ratios.tolist()}
    return Embedding(
        coords, "PCA", labels, f"{100 * ratios.sum():.1f} % of the variance", info
    )


def tsne_perplexity(requested: float, n_distinct: int) -> float:
    """Return the perplexity t-SNE can use on ``n_distinct`` points.

    scikit-learn requires a perplexity below the number of points, and its
    Barnes-Hut method looks at ``3 * perplexity`` neighbours of each point, so
    the value is capped at ``(n_distinct - 1) / 3``.
    """
    if n_distinct < 2:
        raise ValueError(f"t-SNE needs at least 2 distinct points, got {n_distinct}")
    return min(float(requested), (n_distinct - 1) / 3)


def embed_tsne(
    reduced: ReducedSpace, config: EmbeddingConfig, n_components: int = 2
) -> Embedding:
    """Embed every checkpoint with Barnes-Hut t-SNE.

    ``info`` records the perplexity used and the requested one.
    """
    check_components(n_components, reduced)
    x = reduced.inputs_for_methods()

    perplexity = tsne_perplexity(config.perplexity, len(x))
    if perplexity < config.perplexity:
        log.info(
            "t-SNE: perplexity %g is too large for %d distinct checkpoints; using %.3g",
            config.perplexity,
            len(x),
            perplexity,
        )
    tsne = TSNE(
        n_components=n_components,
        perplexity=perplexity,
        early_exaggeration=12.0,
        learning_rate="auto",
        max_iter=config.tsne_max_iter,
        n_iter_without_progress=300,
        min_grad_norm=1e-7,
        metric="euclidean",
        metric_params=None,
        init="pca",
        verbose=0,
        random_state=config.seed,
        method="barnes_hut",
        angle=0.5,
        n_jobs=None,
    )

    # scikit-learn sizes its OpenMP pool from the cores. On 2 cores that other
    # jobs kept busy, two threads made the digits fit 10 to 20 times slower
    # than one (scikit-learn 1.9.1).
    with threadpool_limits(limits=config.tsne_n_threads, user_api="openmp"):
        fitted = tsne.fit_transform(x)
    coords = reduced.expand(fitted.astype(np.float64))

    info = {
        "perplexity": perplexity,
        "perplexity_requested": float(config.perplexity),
        "kl_divergence": float(tsne.kl_divergence_),
        "n_iter": int(tsne.n_iter_),
        **method_inputs(reduced),
    }
    labels = tuple(f"t-SNE {i + 1}" for i in range(n_components))
    return Embedding(coords, "t-SNE", labels, f"perplexity {perplexity:.3g}", info)


def embed_mds(
    reduced: ReducedSpace, config: EmbeddingConfig, n_components: int = 2
) -> Embedding:
    """Embed every checkpoint with metric MDS (SMACOF from classical MDS).

    ``info["stress"]`` is Kruskal's Stress-1 against the Euclidean distances
    of the method's input: 0 is a perfect fit, 0.1 fair, 0.2 poor.
    """
    check_components(n_components, reduced)
    mds = MDS(
        n_components=n_components,
        metric_mds=True,
        n_init=1,
        init="classical_mds",
        max_iter=config.mds_max_iter,
        verbose=0,
        eps=1e-6,
        n_jobs=None,
        random_state=config.seed,
        metric="euclidean",
        metric_params=None,
        normalized_stress=True,
    )
    coords = reduced.expand(mds.fit_transform(reduced.inputs_for_methods()))
    info = {
        "stress": float(mds.stress_),
        "n_iter": int(mds.n_iter_),
        **method_inputs(reduced),
    }
    labels = tuple(f"MDS {i + 1}" for i in range(n_components))
    return Embedding(coords, "MDS", labels, f"stress {mds.stress_:.3f}", info)


def embed_spectral(
    reduced: ReducedSpace, config: EmbeddingConfig, n_components: int = 2
) -> Embedding:
    """Embed every checkpoint with a spectral embedding of a k-neighbour graph.

    A graph in several pieces has no single embedding, so the number of
    neighbours is raised to the fewest that connect it. ``info`` records the
    requested number, the one used and the pieces the requested one gave.
    """
    check_components(n_components, reduced)
    x = reduced.inputs_for_methods()
    requested = config.spectral_n_neighbors or max(len(x) // 10, 2)
    affinity, used, pieces = connected_neighbour_graph(x, requested)
    if used != requested:
        log.info(
            "spectral embedding: the graph of %d neighbours has %d connected "
            "components; using %d neighbours, the fewest that connect it",
            requested,
            pieces,
            used,
        )
    spectral = SpectralEmbedding(
        n_components=n_components,
        affinity="precomputed",
        gamma=None,
        random_state=config.seed,
        eigen_solver="arpack",
        eigen_tol=0.0,
        n_neighbors=None,
        n_jobs=None,
    )
    coords = reduced.expand(spectral.fit_transform(affinity))
    info = {
        "n_neighbors": used,
        "n_neighbors_requested": requested,
        "graph_components_requested": pieces,
        **method_inputs(reduced),
    }
    labels = tuple(f"spectral {i + 1}" for i in range(n_components))
    return Embedding(coords, "spectral", labels, f"{used} neighbours", info)


def neighbour_graph(neighbours: np.ndarray, k: int) -> csr_matrix:
    """Return the symmetric 0/1 affinity of each point's ``k`` first neighbours.

    An edge found from one side only gets weight 0.5, as in scikit-learn's
    ``SpectralEmbedding(affinity="nearest_neighbors")``.
    """
    n = len(neighbours)
    rows = np.repeat(np.arange(n), k)
    graph = csr_matrix((np.ones(n * k), (rows, neighbours[:, :k].ravel())), (n, n))
    return 0.5 * (graph + graph.T)


def count_components(graph: csr_matrix) -> int:
    return int(connected_components(graph, directed=False)[0])


def connected_neighbour_graph(
    x: np.ndarray, n_neighbors: int
) -> tuple[csr_matrix, int, int]:
    """Build the k-neighbour affinity of ``x``, raising k until it is connected.

    Returns the affinity ``(n_points, n_points)``, the number of neighbours
    used (each point counts as its own first neighbour) and the number of
    connected components with the requested ``n_neighbors``.
    """
    n = len(x)
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be at least 2, got {n_neighbors}")
    k = min(n_neighbors, n)
    neighbours = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x)[1]
    pieces = count_components(neighbour_graph(neighbours, k))
    if pieces == 1:
        return neighbour_graph(neighbours, k), k, pieces
    # Double k until the graph is connected, then bisect for the fewest.
    low, high = k, k
    while count_components(neighbour_graph(neighbours, high)) > 1:
        low, high = high, min(2 * high, n)
        neighbours = NearestNeighbors(n_neighbors=high).fit(x).kneighbors(x)[1]
    while high - low > 1:
        middle = (low + high) // 2
        if count_components(neighbour_graph(neighbours, middle)) == 1:
            high = middle
        else:
            low = middle
    return neighbour_graph(neighbours, high), high, pieces


def method_inputs(reduced: ReducedSpace) -> dict:
    """Describe what the non-linear methods read, for ``Embedding.info``."""
    return {
        "n_distinct": len(reduced.distinct),
        "n_principal_components": reduced.n_kept,
        "retained_variance": reduced.retained_variance,
    }


def embed_all(
    reduced: ReducedSpace, config: EmbeddingConfig, n_components: int = 2
) -> dict[str, Embedding]:
    """Embed every checkpoint with each of ``METHODS``, keyed by method name."""
    return {
        "PCA": embed_pca(reduced, n_components),
        "t-SNE": embed_tsne(reduced, config, n_components),
        "MDS": embed_mds(reduced, config, n_components),
        "spectral": embed_spectral(reduced, config, n_components),
    }


def describe_fit(embedding: Embedding) -> str:
    """Describe, in a clause, what the fit used and how well it fits."""
    info = embedding.info
    if embedding.method == "PCA":
        share = 100 * sum(info["explained_variance_ratio"])
        return f"the leading components explain {share:.1f} % of the variance"
    if embedding.method == "t-SNE":
        used, requested = info["perplexity"], info["perplexity_requested"]
        if used == requested:
            return f"perplexity {used:.3g}, as configured"
        return (
            f"perplexity {used:.3g}, lowered from {requested:.3g} because there are "
            f"only {info['n_distinct']} distinct checkpoints"
        )
    if embedding.method == "MDS":
        return f"Stress-1 {info['stress']:.3f}"
    if embedding.method == "spectral":
        used, requested = info["n_neighbors"], info["n_neighbors_requested"]
        if used == requested:
            return f"a graph of {used} neighbours per point, connected as configured"
        return (
            f"the graph of {requested} neighbours per point has "
            f"{info['graph_components_requested']} connected components, so "
            f"{used} neighbours, the fewest that connect it, were used"
        )
    raise ValueError(
        f"embedding.method must be one of {METHODS}, got {embedding.method!r}"
    )


def trajectories(embedding: Embedding, space: FunctionSpace) -> dict[str, np.ndarray]:
    """Split coordinates into one ``(n_epochs + 1, n_components)`` array per run."""
    per_run = space.per_run(embedding.coords)
    return {run: per_run[i] for i, run in enumerate(space.runs)}
