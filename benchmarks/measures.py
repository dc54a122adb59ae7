"""Benchmark the all-pairs engine against a loop over pairs that calls scipy.

Both compute every registered pair measure of random logits, for every pair
of models at every epoch. The loop is the straightforward implementation:
for each pair, softmax of both models with ``scipy.special.softmax``, the JS
divergence with ``scipy.spatial.distance.jensenshannon``, Cohen's kappa with
``sklearn.metrics.cohen_kappa_score`` per epoch, and NumPy formulas for the
rest. The script checks that both give the same values, then prints the
median time of each, their ratio and how far each raises the peak resident
memory beyond the input (measured in a fresh process per method, untimed).

    .venv/bin/python benchmarks/measures.py                 # the full size
    .venv/bin/python benchmarks/measures.py --epochs 21     # a quick run
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax
from sklearn.metrics import cohen_kappa_score

from funcsim_lib import measures

ALPHA = 1.0


def reference_loop(logits: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Compute every pair measure pair by pair, with scipy and scikit-learn."""
    n_models, n_epochs = logits.shape[:2]
    names = measures.PAIR_OUTPUT_MEASURES
    out = {name: np.zeros((n_epochs, n_models, n_models)) for name in names}
    out["cosine_similarity"][:, range(n_models), range(n_models)] = 1.0
    out["cohens_kappa"][:, range(n_models), range(n_models)] = 1.0
    for i in range(n_models):
        for j in range(i + 1, n_models):
            for name, (forward, backward) in _one_pair(logits[i], logits[j], labels):
                out[name][:, i, j] = forward
                out[name][:, j, i] = backward
    return out


def _one_pair(a: np.ndarray, b: np.ndarray, labels: np.ndarray):
    p = softmax(a.astype(np.float64), axis=-1)
    q = softmax(b.astype(np.float64), axis=-1)
    jsd = (jensenshannon(p, q, axis=-1) ** 2).mean(axis=-1)
    l2 = np.linalg.norm(p - q, axis=-1).mean(axis=-1)
    cosine = (p * q).sum(-1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1))
    churn_p = (p / p.max(axis=-1, keepdims=True)) ** ALPHA
    churn_q = (q / q.max(axis=-1, keepdims=True)) ** ALPHA
    churn = 0.5 * np.abs(churn_p - churn_q).sum(-1).mean(-1)
    pred_a, pred_b = p.argmax(-1), q.argmax(-1)
    dis = (pred_a != pred_b).mean(-1)
    kappa = np.array([cohen_kappa_score(x, y) for x, y in zip(pred_a, pred_b)])
    err_a, err_b = (pred_a != labels).mean(-1), (pred_b != labels).mean(-1)
    lowest, highest = np.abs(err_a - err_b), np.minimum(err_a + err_b, 1.0)
    min_max = (dis - lowest) / (highest - lowest)
    yield "disagreement", (dis, dis)
    yield "error_corrected_disagreement", (dis / err_a, dis / err_b)
    yield "min_max_normalised_disagreement", (min_max, min_max)
    yield "cohens_kappa", (kappa, kappa)
    yield "accuracy_difference", (np.abs(err_a - err_b),) * 2
    yield "activation_distance", (l2, l2)
    yield "prediction_difference_norm", (l2 / 2, l2 / 2)
    yield "cosine_similarity", (cosine.mean(-1),) * 2
    yield "js_divergence", (jsd, jsd)
    yield "surrogate_churn", (churn, churn)


def engine(logits: np.ndarray, labels: np.ndarray, workers: int) -> dict:
    return measures.pairwise_measures(
        logits, labels=labels, alpha=ALPHA, workers=workers
    )


def timed(function, *args, repeats: int) -> tuple[float, dict]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _peak() -> int:
    """Return this process's peak resident memory in bytes.

    ``VmHWM`` belongs to the process's own address space; ``ru_maxrss`` would
    start from the parent's peak in a spawned process, since Linux keeps it
    across ``exec``.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def _peak_rise(method: str, shape: tuple[int, ...]) -> int:
    """Run one method in this process and return the rise of the peak memory.

    Random logits of ``shape`` are made first, and a small warm-up call takes
    one-off allocations (torch's start-up) out of the figure.
    """
    logits, labels = make_inputs(shape)
    small = logits[:, :1, :100]
    if method == "loop":
        reference_loop(small, labels[:100])
        before = _peak()
        reference_loop(logits, labels)
    else:
        engine(small, labels[:100], 1)
        before = _peak()
        engine(logits, labels, 1)
    return _peak() - before


def peak_rise(method: str, shape: tuple[int, ...]) -> int:
    """Return ``_peak_rise`` measured in a fresh process."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_peak_rise, (method, shape))


def make_inputs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(shape, dtype=np.float32)
    logits *= 2  # in place, so that no second copy raises the peak memory
    labels = rng.integers(0, shape[-1], shape[-2])
    return logits, labels


def max_difference(ours: dict, theirs: dict) -> tuple[str, float]:
    worst = ("", 0.0)
    for name, values in ours.items():
        difference = float(np.max(np.abs(values - theirs[name])))
        scale = max(1.0, float(np.max(np.abs(theirs[name]))))
        if difference / scale > worst[1]:
            worst = (name, difference / scale)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=201, help="checkpoints per run")
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    shape = (args.models, args.epochs, args.inputs, args.classes)
    logits, labels = make_inputs(shape)
    print(f"logits {shape} float32, {logits.nbytes / 2**20:.0f} MiB")

    loop_time, expected = timed(reference_loop, logits, labels, repeats=args.repeats)
    print(f"loop over pairs (scipy, sklearn): {loop_time:8.2f} s")
    for workers in args.workers:
        engine_time, got = timed(engine, logits, labels, workers, repeats=args.repeats)
        name, difference = max_difference(got, expected)
        print(
            f"engine, {workers} thread(s):          {engine_time:8.2f} s   "
            f"ratio {loop_time / engine_time:5.1f}x   "
            f"largest difference {difference:.1e} ({name})"
        )
        if difference > 1e-9:
            raise SystemExit(f"the engine differs from the loop by {difference:g}")

    del logits, expected, got
    loop_peak = peak_rise("loop", (2, *shape[1:]))
    engine_peak = peak_rise("engine", shape)
    print(
        f"peak memory beyond the input: loop {loop_peak / 2**20:7.1f} MiB "
        f"(one pair; every pair allocates the same), "
        f"engine {engine_peak / 2**20:7.1f} MiB (all pairs, 1 thread)"
    )


if __name__ == "__main__":
    main()
