"""Benchmark loss-landscape evaluation against two references.

The same grid around the same model, on the whole test set, is evaluated by

(a) this project (``funcsim_lib.landscape``, its batched ViT forward);
(b) a per-point loop as Li et al.'s code sets the weights (``set_weights`` in
    ``net_plotter.py`` of github.com/tomgoldstein/loss-landscape): for every
    point, each parameter becomes ``w + a * d1 + b * d2`` and the model runs
    on the test set;
(c) the PyPI package ``loss-landscapes`` (``random_plane``). It is installed
    into an environment of its own under ``_build/benchmark-env``, never into
    the project's, and runs there in a child process;
(d) with ``--compile``, loop (b) on ``torch.compile(model)``, compile time
    included.

For each it prints points per second over the whole grid, setup included,
as the median over repeats run side by side, and how many times faster (a)
is. It recomputes the same points in float64 through timm's own forward and
prints the largest relative error of the loss and the points whose number of
misclassified images differs. Last come the FLOP rate, as a share of the
float32 matmul rate measured in the same run at the same thread count, and
the page faults per point. FLOPs are the matmul FLOPs a method issues per
point, counted with ``torch.utils.flop_counter``. With ``--device
cuda`` it also times (a) with one point per forward against its batched
default.

    .venv/bin/python benchmarks/landscape.py --points 11 --repeats 3

The study is trained first if the store does not have it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from funcsim_lib.config import resolve_study  # noqa: E402
from funcsim_lib.landscape import Grid, Plane, make_evaluator, random_directions  # noqa: E402
from funcsim_lib.landscape.evaluate import iter_rows  # noqa: E402

PACKAGE = "loss-landscapes==3.0.6"
PACKAGE_ENV = REPO / "_build" / "benchmark-env"
MATMUL_SIZE = 2048
LABELS = {
    "a": "(a) funcsim",
    "b": "(b) per-point loop (Li et al.)",
    "c": "(c) loss-landscapes 3.0.6",
    "d": "(d) loop (b), torch.compile",
    "a1": "(a) one point per forward",
}


# -- (a) and (b) ------------------------------------------------------------------


def run_project(model, x, y, d1, d2, grid, points_per_batch=None) -> dict:
    """Time (a) over the whole grid, building the evaluator included."""
    faults = page_faults()
    start = time.perf_counter()
    plane = Plane.around(model, d1, d2)
    evaluator = make_evaluator(model, x, y, plane, points_per_batch=points_per_batch)
    losses, errors = [], []
    for _, loss, error in iter_rows(evaluator, grid, range(len(grid.alphas))):
        losses.append(loss)
        errors.append(error)
    synchronise(x.device)
    return {
        "loss": np.stack(losses),
        "error": np.stack(errors),
        "seconds": time.perf_counter() - start,
        "faults": page_faults() - faults,
        "method": evaluator.method,
        "points_per_batch": evaluator.points_per_batch,
    }


@torch.inference_mode()
def run_li_loop(model, x, y, d1, d2, grid, compile_model=False) -> dict:
    """Time (b), or (d) with ``compile_model``: set every parameter per point.

    Li et al.'s ``set_weights`` assigns ``p.data = w + d`` per point; the
    compiled variant copies in place instead, so the compiled graph keeps its
    parameters.
    """
    faults = page_faults()
    start = time.perf_counter()
    net = copy.deepcopy(model).eval()
    params = list(net.named_parameters())
    weights = [p.detach().clone() for _, p in params]
    forward = torch.compile(net) if compile_model else net
    compile_seconds = 0.0
    if compile_model:
        forward(x)
        compile_seconds = time.perf_counter() - start
    loss, error = np.zeros(grid.shape), np.zeros(grid.shape)
    for i, a in enumerate(grid.alphas):
        for j, b in enumerate(grid.betas):
            for (name, p), w in zip(params, weights):
                point = w + float(a) * d1[name] + float(b) * d2[name]
                if compile_model:
                    p.data.copy_(point)
                else:
                    p.data = point
            logits = forward(x).double()
            loss[i, j] = F.cross_entropy(logits, y).item()
            error[i, j] = (logits.argmax(1) != y).double().mean().item()
    seconds = time.perf_counter() - start
    return {
        "loss": loss,
        "error": error,
        "seconds": seconds,
        "compile": compile_seconds,
        "faults": page_faults() - faults,
    }


def page_faults() -> int:
    """Return the minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- (c), in its own environment --------------------------------------------------


def run_package(args, out_dir: Path) -> dict:
    """Time (c) in a child process; return its grid and its two step vectors."""
    command = [str(package_python()), str(Path(__file__).resolve())]
    command += ["--child-package", str(out_dir), *child_arguments(args)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the loss-landscapes run failed:\n{done.stderr}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    arrays = np.load(out_dir / "package.npz")
    return {
        "loss": arrays["loss"],
        "error": arrays["error"],
        "seconds": child["seconds"],
        "faults": child["faults"],
        "steps": arrays["steps"],
    }


def package_child(args) -> None:
    """Run (c) with ``loss_landscapes.random_plane``; called in its environment."""
    import loss_landscapes
    import loss_landscapes.main as package_main
    from loss_landscapes.metrics import Metric

    torch.set_num_threads(args.threads)
    model, x, y, _, _, _ = setup(args)
    recorded = []

    def recording(function):
        def wrapper(*arguments, **keywords):
            recorded.append(function(*arguments, **keywords))
            return recorded[-1]

        return wrapper

    # The package draws its two step vectors and scales them in place; keeping
    # the objects gives their final values, to recompute the points it meant.
    package_main.rand_u_like = recording(package_main.rand_u_like)
    package_main.orthogonal_to = recording(package_main.orthogonal_to)

    class LossAndError(Metric):
        def __call__(self, model_wrapper):
            logits = model_wrapper.forward(x).double()
            loss = F.cross_entropy(logits, y).item()
            return loss, (logits.argmax(1) != y).double().mean().item()

    torch.manual_seed(args.seed)
    faults = page_faults()
    start = time.perf_counter()
    with torch.no_grad():
        values = loss_landscapes.random_plane(
            model,
            LossAndError(),
            distance=0.5,
            steps=args.points,
            normalization="filter",
            deepcopy_model=True,
        )
    seconds = time.perf_counter() - start
    steps = np.stack(
        [
            np.concatenate([p.detach().reshape(-1).numpy() for p in vector.parameters])
            for vector in recorded
        ]
    )
    values = np.asarray(values, dtype=np.float64)
    np.savez(
        Path(args.child_package) / "package.npz",
        loss=values[..., 0],
        error=values[..., 1],
        steps=steps,
    )
    print(json.dumps({"seconds": seconds, "faults": page_faults() - faults}))


def package_coefficients(steps: int) -> np.ndarray:
    """Return ``(steps, steps, 2)`` multiples of (c)'s step vectors from theta.

    Its loop starts ``steps / 2`` steps back along both vectors and walks the
    rows in a zigzag, so even rows are one step further along the second
    vector than odd rows.
    """
    i = np.arange(steps)[:, None].repeat(steps, 1)
    j = np.arange(steps)[None, :].repeat(steps, 0)
    along_second = np.where(i % 2 == 0, j + 1, j)
    return np.stack([i - steps / 2, along_second - steps / 2], axis=-1)


def package_python() -> Path:
    """Return the Python of (c)'s environment, creating it on first use.

    The environment is a venv under ``_build``. A ``.pth`` file puts the
    project's site-packages on its path, and pip's ``--target`` installs
    ``loss-landscapes`` into its own site-packages.
    """
    python = PACKAGE_ENV / "bin" / "python"
    check = [str(python), "-c", "import loss_landscapes, torch, timm"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    venv = [sys.executable, "-m", "venv", "--without-pip", str(PACKAGE_ENV)]
    subprocess.run(venv, check=True)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run(
        [str(python), "-c", where], check=True, capture_output=True, text=True
    ).stdout.strip()
    base = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "funcsim-base.pth").write_text("\n".join(base) + "\n")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    install = subprocess.run(
        pip + ["--target", purelib, PACKAGE], capture_output=True, text=True
    )
    if install.returncode != 0:
        raise RuntimeError(f"installing {PACKAGE} failed:\n{install.stderr}")
    subprocess.run(check, check=True)
    return python


# -- references, FLOPs, the machine -----------------------------------------------


def float64_reference(model, x, y, axes, coefficients: np.ndarray) -> tuple:
    """Return loss and error at ``coefficients`` ``(n, 2)`` via timm in float64."""
    plane = Plane.around(model, *axes)
    evaluator = make_evaluator(model, x, y, plane, method="module", dtype=torch.float64)
    return evaluator(coefficients)


def check_points(shape: tuple[int, int], limit: int, seed: int) -> np.ndarray:
    """Return flat indices of at most ``limit`` grid points, picked with ``seed``."""
    n = shape[0] * shape[1]
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def compare(values: dict, reference: tuple, index: np.ndarray, n_images: int) -> dict:
    """Return the largest relative loss error and the points with other errors.

    A point counts when its number of misclassified images differs from the
    reference's.
    """
    loss = values["loss"].reshape(-1)[index]
    error = values["error"].reshape(-1)[index]
    ref_loss, ref_error = reference
    finite = np.isfinite(ref_loss) & np.isfinite(loss)
    relative = np.abs(loss[finite] - ref_loss[finite]) / np.abs(ref_loss[finite])
    flips = np.round(error * n_images) != np.round(ref_error * n_images)
    return {
        "relative_error": float(relative.max()),
        "error_flips": int(flips.sum()),
        "checked": int(len(index)),
    }


def _inplace_matmul_flops(self_shape, a_shape, b_shape, *args, out_shape=None, **kw):
    batch = a_shape[0] if len(a_shape) == 3 else 1
    return 2 * batch * a_shape[-2] * a_shape[-1] * b_shape[-1]


def count_flops(function) -> int:
    """Return the matmul FLOPs ``function`` issues, in-place ones included.

    ``FlopCounterMode`` (torch 2.14) counts ``addmm`` and ``baddbmm`` but not
    their in-place forms, which the project uses for residual additions.
    """
    inplace = {
        torch.ops.aten.addmm_: _inplace_matmul_flops,
        torch.ops.aten.baddbmm_: _inplace_matmul_flops,
    }
    with FlopCounterMode(display=False, custom_mapping=inplace) as counter:
        function()
    return counter.get_total_flops()


def matmul_rate(device: torch.device, size: int = MATMUL_SIZE, repeats: int = 3):
    """Return the float32 matmul rate in FLOP/s, median of ``repeats``."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    times = []
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        a @ b
        synchronise(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


# -- driver -------------------------------------------------------------------------


def setup(args):
    from funcsim_lib.study import Study
    from funcsim_lib.training import train_study

    config = resolve_study(args.profile)
    train_study(config, args.store, workers=1)
    study = Study(config, args.store)
    model = study.model(args.run, device=args.device)
    x = study.data.test_x.to(args.device)
    y = study.data.test_y.to(args.device)
    d1, d2 = random_directions(model, args.seed)
    d1 = {k: v.to(args.device) for k, v in d1.items()}
    d2 = {k: v.to(args.device) for k, v in d2.items()}
    grid = Grid.from_span((args.points, args.points), (-1.0, 1.0, -1.0, 1.0))
    return model, x, y, d1, d2, grid


def child_arguments(args) -> list[str]:
    return [
        "--profile", args.profile, "--store", str(args.store), "--run", args.run,
        "--points", str(args.points), "--seed", str(args.seed),
        "--threads", str(args.threads),
    ]  # fmt: skip


def time_methods(args, model, x, y, d1, d2, grid) -> dict[str, list[dict]]:
    """Run every method ``args.repeats`` times, one after the other per repeat."""
    device = x.device
    runs: dict[str, list] = {"matmul": []}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):
            runs["matmul"].append(matmul_rate(device))
            runs.setdefault("a", []).append(run_project(model, x, y, d1, d2, grid))
            if device.type == "cuda":
                one = run_project(model, x, y, d1, d2, grid, points_per_batch=1)
                runs.setdefault("a1", []).append(one)
            runs.setdefault("b", []).append(run_li_loop(model, x, y, d1, d2, grid))
            if not args.skip_package and device.type == "cpu":
                runs.setdefault("c", []).append(run_package(args, Path(scratch)))
            if args.compile:
                compiled = run_li_loop(model, x, y, d1, d2, grid, compile_model=True)
                runs.setdefault("d", []).append(compiled)
    return runs


def measure(args) -> dict:
    model, x, y, d1, d2, grid = setup(args)
    runs = time_methods(args, model, x, y, d1, d2, grid)

    index = check_points(grid.shape, args.check_points, args.seed)
    coefficients = np.stack(np.meshgrid(grid.alphas, grid.betas, indexing="ij"), -1)
    checked = coefficients.reshape(-1, 2)[index]
    reference = float64_reference(model, x, y, (d1, d2), checked)
    evaluator = make_evaluator(model, x, y, Plane.around(model, d1, d2))
    point = np.array([[0.25, -0.5]])
    flops = {"a": count_flops(lambda: evaluator(point))}
    flops["a1"] = flops["a"]
    flops["b"] = flops["c"] = flops["d"] = count_flops(lambda: model(x))

    report = {
        "points": grid.shape[0] * grid.shape[1],
        "n_images": len(y),
        "method": runs["a"][0]["method"],
        "points_per_batch": runs["a"][0]["points_per_batch"],
        "matmul": statistics.median(runs["matmul"]),
        "methods": {},
    }
    for key in ("a", "a1", "b", "c", "d"):
        if key not in runs:
            continue
        ref = reference
        if key == "c":
            steps = runs["c"][0]["steps"]
            axes = [unflatten(steps[k], model) for k in range(2)]
            own = package_coefficients(args.points).reshape(-1, 2)[index]
            ref = float64_reference(model, x, y, axes, own)
        seconds = [r["seconds"] for r in runs[key]]
        report["methods"][key] = {
            "seconds": seconds,
            "points_per_s": report["points"] / statistics.median(seconds),
            "compile_seconds": [r.get("compile", 0.0) for r in runs[key]],
            "faults_per_point": statistics.median(r["faults"] for r in runs[key])
            / report["points"],
            **compare(runs[key][-1], ref, index, len(y)),
            "flops_per_point": flops[key],
        }
    return report


def unflatten(flat: np.ndarray, model) -> dict[str, torch.Tensor]:
    out, offset = {}, 0
    for name, p in model.named_parameters():
        values = flat[offset : offset + p.numel()].copy()
        out[name] = torch.from_numpy(values).view(p.shape).to(p.device)
        offset += p.numel()
    return out


def print_report(args, report: dict) -> None:
    methods = report["methods"]
    device = torch.device(args.device)
    print(
        f"machine: {machine(device)}, torch {torch.__version__}, "
        f"{args.threads} CPU thread(s), load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"grid: {args.points}x{args.points} = {report['points']} points around "
        f"{args.run!r} of the {args.profile} study, {report['n_images']} test "
        f"images, median of {args.repeats} repeats; (a) used the "
        f"{report['method']} forward, {report['points_per_batch']} point(s) "
        "per forward"
    )
    matmul = report["matmul"]
    print(f"float32 matmul {MATMUL_SIZE}x{MATMUL_SIZE}: {matmul / 1e9:.1f} GFLOP/s")
    print(
        f"{'method':32s} {'points/s':>9s} {'(a) faster':>10s} {'max rel err':>11s} "
        f"{'err differs':>11s} {'MFLOP/point':>11s} {'GFLOP/s':>8s} {'of matmul':>9s} "
        f"{'faults/point':>12s}"
    )
    for key, row in methods.items():
        speedup = methods["a"]["points_per_s"] / row["points_per_s"]
        rate = row["flops_per_point"] * row["points_per_s"]
        differs = f"{row['error_flips']}/{row['checked']}"
        print(
            f"{LABELS[key]:32s} {row['points_per_s']:9.1f} {speedup:9.2f}x "
            f"{row['relative_error']:11.1e} {differs:>11s} "
            f"{row['flops_per_point'] / 1e6:11.1f} {rate / 1e9:8.1f} "
            f"{rate / matmul:9.0%} {row['faults_per_point']:12.0f}"
        )
    if "d" in methods:
        compile_s = statistics.median(methods["d"]["compile_seconds"])
        print(f"(d) compile time, included above: {compile_s:.1f} s per grid")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--profile", default="digits", help="study profile (default: digits)")
    add("--store", type=Path, default=REPO / "studies", help="run store folder")
    add("--run", default="base", help="run around which to evaluate (base)")
    add("--points", type=int, default=11, help="grid points per axis (11)")
    add("--repeats", type=int, default=3, help="timed repeats of each method (3)")
    add("--seed", type=int, default=0, help="seed of the directions (0)")
    add("--threads", type=int, default=1, help="PyTorch CPU threads (1)")
    add("--device", default="cpu", help="cpu, or cuda for (a) and (b)")
    add("--check-points", type=int, default=121, help="points redone in float64")
    add("--skip-package", action="store_true", help="leave out (c)")
    add("--compile", action="store_true", help="also time (d), torch.compile")
    add("--json", type=Path, help="also write the figures to this file")
    add("--child-package", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.points < 2 or args.repeats < 1 or args.threads < 1:
        print("error: --points must be >= 2, --repeats and --threads >= 1")
        return 2
    if args.child_package:
        package_child(args)
        return 0
    torch.set_num_threads(args.threads)
    report = measure(args)
    print_report(args, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
