"""Time the joint embeddings on a study of the size of a long CIFAR-10 run.

The points are random softmax outputs: for each run, logits that take a
Gaussian random walk over the checkpoints, so consecutive checkpoints are
close as in training. By default 8 runs x 201 checkpoints x (500 inputs x 10
classes) = 1,608 points of 5,000 values.

Each method is fitted on three inputs: the raw points, all their principal
components (which keeps every distance), and the fewest leading components
that explain ``--pca-variance`` of the variance. Times are medians over
``--repeats`` fits. Peak memory is what ``tracemalloc`` saw allocated during
one more fit, which counts NumPy and Python objects but not BLAS or OpenMP
work buffers.
Trustworthiness (scikit-learn, 10 neighbours, against the raw points) tells
whether an input changes the result.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/embedding.py
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness

from funcsim_lib import embedding
from funcsim_lib.config import EmbeddingConfig


def random_walk_logits(
    n_runs: int, n_checkpoints: int, n_inputs: int, n_classes: int, seed: int
) -> np.ndarray:
    """Return logits ``(n_runs, n_checkpoints, n_inputs, n_classes)``.

    Every run starts from the same small logits, like SIDDO runs at epoch 0,
    and takes independent Gaussian steps of 0.3 per checkpoint.
    """
    rng = np.random.default_rng(seed)
    start = 0.1 * rng.standard_normal((1, 1, n_inputs, n_classes))
    steps = 0.3 * rng.standard_normal((n_runs, n_checkpoints, n_inputs, n_classes))
    steps[:, 0] = 0.0
    return (start + np.cumsum(steps, axis=1)).astype(np.float32)


def raw_input(reduced: embedding.ReducedSpace) -> embedding.ReducedSpace:
    """Return ``reduced`` with the raw points in place of the components."""
    points = reduced.space.points
    ratios = np.full(points.shape[1], 1.0 / points.shape[1])
    return dataclasses.replace(
        reduced, scores=points, explained_variance_ratio=ratios, n_kept=points.shape[1]
    )


def measure(fit: Callable[[], object], repeats: int) -> tuple[object, float, float]:
    """Return the last result, the median seconds and the peak MiB of one fit."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    fit()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, statistics.median(seconds), peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs in the study")
    parser.add_argument(
        "--checkpoints", type=int, default=201, help="per run, epoch 0 included"
    )
    parser.add_argument("--inputs", type=int, default=500, help="test images per point")
    parser.add_argument("--classes", type=int, default=10, help="classes per image")
    parser.add_argument("--dims", type=int, default=2, help="embedding dimension")
    parser.add_argument("--repeats", type=int, default=3, help="fits per median")
    parser.add_argument(
        "--pca-variance",
        type=float,
        default=0.99,
        help="share of the variance the reduced input keeps",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random walks")
    args = parser.parse_args(argv)

    logits = random_walk_logits(
        args.runs, args.checkpoints, args.inputs, args.classes, args.seed
    )
    runs = tuple(f"run_{i}" for i in range(args.runs))
    space = embedding.function_space(logits, runs, np.arange(args.inputs))
    config = EmbeddingConfig(n_inputs=args.inputs, pca_variance=args.pca_variance)
    print(
        f"{len(space.points)} points x {space.points.shape[1]} values, "
        f"{args.dims}D, median of {args.repeats}; scikit-learn {sklearn.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )

    reduced, seconds, peak = measure(
        lambda: embedding.reduce(space, config), args.repeats
    )
    print(
        f"\nreduce (eigendecomposition, distinct rows): {seconds:.2f} s, "
        f"peak {peak:.0f} MiB; {reduced.n_kept} of {reduced.scores.shape[1]} "
        f"components keep {100 * reduced.retained_variance:.2f} % of the variance"
    )
    n_all = min(space.points.shape)
    _, seconds, peak = measure(
        lambda: PCA(n_components=n_all, svd_solver="full").fit_transform(space.points),
        args.repeats,
    )
    print(
        f"for comparison, scikit-learn's PCA(svd_solver='full'): {seconds:.2f} s, "
        f"peak {peak:.0f} MiB\n"
    )
    inputs = {
        "raw points": raw_input(reduced),
        "all components": dataclasses.replace(reduced, n_kept=reduced.scores.shape[1]),
        f"{100 * args.pca_variance:g} % variance": reduced,
    }
    fits = {
        "t-SNE": embedding.embed_tsne,
        "MDS": embedding.embed_mds,
        "spectral": embedding.embed_spectral,
    }
    raw = space.points[reduced.distinct]
    # scikit-learn needs fewer than half the points as neighbours.
    neighbours = max(1, min(10, (len(raw) - 1) // 2))
    print("| method | input | dims | median s | peak MiB | trustworthiness |")
    print("|---|---|---|---|---|---|")
    result, seconds, peak = measure(
        lambda: embedding.embed_pca(reduced, args.dims), args.repeats
    )
    trust = trustworthiness(
        raw, result.coords[reduced.distinct], n_neighbors=neighbours
    )
    print(f"| PCA | components | - | {seconds:.3f} | {peak:.0f} | {trust:.4f} |")
    for method, fit in fits.items():
        for label, source in inputs.items():
            result, seconds, peak = measure(
                lambda fit=fit, source=source: fit(source, config, args.dims),
                args.repeats,
            )
            trust = trustworthiness(
                raw, result.coords[reduced.distinct], n_neighbors=neighbours
            )
            print(
                f"| {method} | {label} | {source.n_kept} | {seconds:.2f} | "
                f"{peak:.0f} | {trust:.4f} |"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak resident memory: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
