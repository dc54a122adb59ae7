"""Training the runs of a study, with per-epoch evaluation and resume.

Seeds are split as in the study design: the initialisation seed is used only
to build the model (see ``funcsim_lib.models.build_model``); the data seed
drives everything random during training. Each epoch gets its own generator,
seeded from ``(data_seed, epoch)``, which draws the shuffling, the
augmentation and a seed for dropout and stochastic depth. Evaluation draws
nothing, so extra evaluation passes never shift the data order, and a run
resumed after epoch ``e`` continues exactly as if it had never stopped.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from funcsim_lib.config import StudyConfig, TrainConfig
from funcsim_lib.data import Dataset, augment, load_dataset
from funcsim_lib.models import build_model, count_parameters, state_for_storage
from funcsim_lib.store import (
    StudyStore,
    load_array,
    load_tensors,
    read_json,
    save_array,
    save_tensors,
    write_json,
)
from funcsim_lib.threads import torch_threads

log = logging.getLogger(__name__)

# Runs on the CPU always use one thread: the result of a float32 reduction can
# depend on how it is split among threads, and a stored study must not depend
# on the machine's core count. Parallelism comes from training runs side by side.
CPU_THREADS_PER_RUN = 1
EVAL_BATCH_SIZE = 1024


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: its name, condition and seeds."""

    name: str
    condition: str  # "base", "siddo", "disdo" or "replica"
    init_seed: int
    data_seed: int


def study_runs(study: StudyConfig) -> list[RunSpec]:
    """Return the runs of ``study``: base, siddo_1..K, disdo_1..K, replica."""
    s0, d0 = study.init_seeds[0], study.data_seeds[0]
    runs = [RunSpec("base", "base", s0, d0)]
    for k in range(1, study.k + 1):
        runs.append(RunSpec(f"siddo_{k}", "siddo", s0, study.data_seeds[k]))
    for k in range(1, study.k + 1):
        runs.append(RunSpec(f"disdo_{k}", "disdo", study.init_seeds[k], d0))
    runs.append(RunSpec("replica", "replica", s0, d0))
    return runs


def epoch_generator(data_seed: int, epoch: int) -> torch.Generator:
    """Return the CPU generator for ``epoch`` of a run with ``data_seed``."""
    state = np.random.SeedSequence([data_seed, epoch]).generate_state(2)
    seed = (int(state[0]) << 31) ^ int(state[1])
    return torch.Generator().manual_seed(seed)


# -- optimisation -------------------------------------------------------------


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases, norms, position embedding and tokens."""
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 or name in skip else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


def lr_factor(step: int, total_steps: int, warmup_fraction: float) -> float:
    """Linear warm-up to 1, then cosine decay to 0, as a factor of the peak."""
    warmup = int(round(warmup_fraction * total_steps))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    total = config.epochs * steps_per_epoch
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, config.warmup_fraction)
    )


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: Dataset,
    config: TrainConfig,
    crop_padding: int,
    hflip: bool,
    generator: torch.Generator,
) -> float:
    """Train one epoch; return the mean training loss over its examples."""
    model.train()
    device = data.train_x.device
    n = len(data.train_y)
    order = torch.randperm(n, generator=generator).to(device)
    dropout_seed = int(torch.randint(2**62, (1,), generator=generator))
    total = torch.zeros((), dtype=torch.float64, device=device)
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices, device_type=device.type):
        seed_global_rng(device, dropout_seed)
        for start in range(0, n, config.batch_size):
            index = order[start : start + config.batch_size]
            x = augment(data.train_x[index], generator, crop_padding, hflip)
            loss = F.cross_entropy(
                model(x), data.train_y[index], label_smoothing=config.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach().double() * len(index)
    return float(total) / n


def seed_global_rng(device: torch.device, seed: int) -> None:
    """Seed the global RNG of ``device`` only (dropout draws from it)."""
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


# -- evaluation ---------------------------------------------------------------


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE
) -> torch.Tensor:
    """Return the model's logits ``(n, n_classes)`` in eval mode, as float32.

    The model's train/eval flag is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        parts = [
            model(x[i : i + batch_size]).float() for i in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts)


def epoch_record(
    epoch: int, train_loss: float | None, logits: torch.Tensor, labels: torch.Tensor
) -> dict[str, Any]:
    test_loss = F.cross_entropy(logits.double(), labels).item()
    accuracy = (logits.argmax(1) == labels).double().mean().item()
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "test_loss": test_loss,
        "test_accuracy": accuracy,
    }


# -- one run ------------------------------------------------------------------


def train_run(
    study: StudyConfig, run: RunSpec, data: Dataset, store: StudyStore
) -> None:
    """Train ``run`` of ``study`` and write it to ``store``, resuming if possible."""
    on_cpu = study.device == "cpu"
    with torch_threads(CPU_THREADS_PER_RUN) if on_cpu else nullcontext():
        _train_run(study, run, data, store)


def _train_run(
    study: StudyConfig, run: RunSpec, data: Dataset, store: StudyStore
) -> None:
    device = torch.device(study.device)
    config = study.train
    model = build_model(study.model, run.init_seed).to(device)
    optimizer = make_optimizer(model, config)
    steps_per_epoch = math.ceil(len(data.train_y) / config.batch_size)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)

    resumed = load_resume(store, run.name, model, optimizer, scheduler)
    if resumed is None:
        logits = predict_logits(model, data.test_x)
        history = [logits.cpu()]
        records = [epoch_record(0, None, logits, data.test_y)]
        if config.save_epoch_weights:
            store.write_epoch_weights(run.name, 0, state_for_storage(model))
        first_epoch = 1
    else:
        history, records = resumed
        first_epoch = len(records)
        log.info("%s: resuming after epoch %d", run.name, first_epoch - 1)

    for epoch in range(first_epoch, config.epochs + 1):
        generator = epoch_generator(run.data_seed, epoch)
        train_loss = train_epoch(
            model,
            optimizer,
            scheduler,
            data,
            config,
            study.data.crop_padding,
            study.data.hflip,
            generator,
        )
        logits = predict_logits(model, data.test_x)
        history.append(logits.cpu())
        records.append(epoch_record(epoch, train_loss, logits, data.test_y))
        log_epoch(run.name, records[-1])
        if config.save_epoch_weights:
            store.write_epoch_weights(run.name, epoch, state_for_storage(model))
        if epoch < config.epochs:
            save_resume(store, run.name, model, optimizer, history, records)

    info = {
        "name": run.name,
        "condition": run.condition,
        "init_seed": run.init_seed,
        "data_seed": run.data_seed,
        "n_parameters": count_parameters(model),
        "final": records[-1],
    }
    store.write_run(
        run.name, state_for_storage(model), torch.stack(history).numpy(), records, info
    )
    shutil.rmtree(store.run_path(run.name) / "resume", ignore_errors=True)


def log_epoch(run: str, record: dict[str, Any]) -> None:
    log.info(
        "%-9s epoch %3d  train loss %.4f  test loss %.4f  test acc %.4f",
        run,
        record["epoch"],
        record["train_loss"],
        record["test_loss"],
        record["test_accuracy"],
    )


# -- resume checkpoints -------------------------------------------------------


def save_resume(
    store: StudyStore,
    run: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    history: list[torch.Tensor],
    records: list[dict[str, Any]],
) -> None:
    """Write the state after the last finished epoch; progress.json goes last."""
    folder = store.run_path(run) / "resume"
    tensors = {f"model.{k}": v for k, v in state_for_storage(model).items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optimizer.{index}.{key}"] = (
                value.detach().cpu().contiguous().clone()
            )
    save_tensors(folder / "state.safetensors", tensors)
    save_array(folder / "logits.npy", torch.stack(history).numpy())
    write_json(folder / "progress.json", {"records": records})


def load_resume(
    store: StudyStore,
    run: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> tuple[list[torch.Tensor], list[dict[str, Any]]] | None:
    """Load an unfinished run's checkpoint into the given objects, if there is one."""
    folder = store.run_path(run) / "resume"
    if not (folder / "progress.json").exists():
        return None
    records = read_json(folder / "progress.json")["records"]
    tensors = load_tensors(folder / "state.safetensors")
    device = next(model.parameters()).device
    model.load_state_dict(
        {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    )
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            target = value if name == "step" else value.to(device)
            state.setdefault(int(index), {})[name] = target
    optimizer.load_state_dict(
        {"state": state, "param_groups": optimizer.state_dict()["param_groups"]}
    )
    steps = int(next(iter(state.values()))["step"].item()) if state else 0
    with warnings.catch_warnings():
        # Replaying the schedule without optimizer steps is intended here.
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps):
            scheduler.step()
    logits = load_array(folder / "logits.npy")
    history = [torch.from_numpy(epoch.copy()) for epoch in logits]
    if len(history) != len(records):
        return None
    return history, records


# -- a whole study ------------------------------------------------------------


def train_study(
    study: StudyConfig, store_root: str | os.PathLike, workers: int = 1
) -> StudyStore:
    """Train every unfinished run of ``study`` into the store under ``store_root``.

    Finished runs are reused. On the CPU, ``workers`` runs train side by side
    in separate processes of one thread each; the stored results do not
    depend on ``workers``.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    check_device(study.device)
    store = StudyStore(store_root, study)
    data = load_dataset(study.data)
    store.save_test_labels(data.test_y.numpy())
    pending = [run for run in study_runs(study) if not store.has_run(run.name)]
    if not pending:
        log.info("all %d runs found in %s", len(study_runs(study)), store.path)
        return store
    log.info("training %d runs into %s", len(pending), store.path)
    if workers == 1 or len(pending) == 1 or study.device != "cpu":
        data = data.to(study.device)
        for run in tqdm(pending, desc="runs", unit="run", disable=None):
            train_run(study, run, data, store)
    else:
        context = multiprocessing.get_context("spawn")
        n_workers = min(workers, len(pending))
        with ProcessPoolExecutor(n_workers, mp_context=context) as pool:
            futures = [
                pool.submit(_train_in_worker, study, run, str(store_root))
                for run in pending
            ]
            for future in tqdm(
                as_completed(futures),
                total=len(futures),
                desc="runs",
                unit="run",
                disable=None,
            ):
                future.result()
    return store


def check_device(device: str) -> None:
    """Raise a ``ValueError`` with the fix when ``device`` cannot be used here."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(
            f"device must be 'cpu' or 'cuda[:N]', got {device!r}"
        ) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} is requested but no CUDA device is available here; "
            "train on the CPU with --set device=cpu (overrides={'device': 'cpu'})"
        )


def _train_in_worker(study: StudyConfig, run: RunSpec, store_root: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    store = StudyStore(store_root, study)
    train_run(study, run, load_dataset(study.data), store)
