"""Loss landscapes after Li et al. (2018), "Visualizing the Loss Landscape of
Neural Nets": test loss and test error on the plane theta + a*d1 + b*d2 spanned
by two filter-normalised Gaussian directions d1 and d2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from funcsim_lib.config import LandscapeConfig
from funcsim_lib.store import load_arrays, save_arrays

if TYPE_CHECKING:
    from funcsim_lib.study import Study

log = logging.getLogger(__name__)

# How position embeddings and the class token are normalised:
#   "token": each token's vector is a filter (the default);
#   "tensor": the whole tensor is one filter;
#   "zero": the direction is zero there, so they are never perturbed.
EMBED_POLICIES = ("token", "tensor", "zero")
TOKEN_PARAMETERS = ("pos_embed", "cls_token", "reg_token")


@dataclass(frozen=True)
class Grid:
    """Coordinates of a landscape grid; (0, 0) lies on it when the span holds 0."""

    alphas: np.ndarray  # (n_alpha,)
    betas: np.ndarray  # (n_beta,)

    @classmethod
    def from_config(cls, config: LandscapeConfig) -> Grid:
        n_alpha, n_beta = config.n_points
        a0, a1, b0, b1 = config.span
        return cls(np.linspace(a0, a1, n_alpha), np.linspace(b0, b1, n_beta))


def random_directions(
    model: torch.nn.Module,
    seed: int,
    include_1d: bool = False,
    embed_policy: str = "token",
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Return two filter-normalised Gaussian directions for ``model``.

    For each parameter with two or more dimensions, every slice along
    dimension 0 of the direction is rescaled to the norm of the same slice of
    the weights. One-dimensional parameters get a zero direction unless
    ``include_1d``, in which case they are scaled as one filter.
    """
    if embed_policy not in EMBED_POLICIES:
        raise ValueError(
            f"embed_policy must be one of {EMBED_POLICIES}, got {embed_policy!r}"
        )
    generator = torch.Generator().manual_seed(seed)
    directions = []
    for _ in range(2):
        direction = {}
        for name, param in model.named_parameters():
            weights = param.detach().to("cpu", torch.float32)
            noise = torch.randn(weights.shape, generator=generator)
            direction[name] = _normalise(name, noise, weights, include_1d, embed_policy)
        directions.append(direction)
    return directions[0], directions[1]


def _normalise(
    name: str, noise: torch.Tensor, weights: torch.Tensor, include_1d: bool, policy: str
) -> torch.Tensor:
    if name in TOKEN_PARAMETERS:
        if policy == "zero":
            return torch.zeros_like(noise)
        if policy == "tensor":
            return noise * (weights.norm() / (noise.norm() + 1e-10))
        filters = noise.reshape(-1, noise.shape[-1])
        scale = weights.reshape(-1, weights.shape[-1]).norm(dim=1) / (
            filters.norm(dim=1) + 1e-10
        )
        return (filters * scale[:, None]).reshape(noise.shape)
    if noise.ndim <= 1:
        if not include_1d:
            return torch.zeros_like(noise)
        return noise * (weights.norm() / (noise.norm() + 1e-10))
    filters = noise.reshape(noise.shape[0], -1)
    scale = weights.reshape(weights.shape[0], -1).norm(dim=1) / (
        filters.norm(dim=1) + 1e-10
    )
    return (filters * scale[:, None]).reshape(noise.shape)


def direction_cosine(d1: dict[str, torch.Tensor], d2: dict[str, torch.Tensor]) -> float:
    """Return the cosine between two directions seen as flat vectors."""
    dot = sum(float((d1[k].double() * d2[k].double()).sum()) for k in d1)
    n1 = sum(float(d1[k].double().pow(2).sum()) for k in d1) ** 0.5
    n2 = sum(float(d2[k].double().pow(2).sum()) for k in d2) ** 0.5
    return dot / (n1 * n2)


@torch.inference_mode()
def evaluate_grid(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    d1: dict[str, torch.Tensor],
    d2: dict[str, torch.Tensor],
    grid: Grid,
    rows: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return test loss and test error ``(n_rows, n_beta)`` for the given rows.

    Every point is set afresh to theta + a*d1 + b*d2, never reached by
    accumulated steps. The model is evaluated in eval mode, and its
    parameters and train/eval flag are restored afterwards.
    """
    rows = range(len(grid.alphas)) if rows is None else rows
    params = dict(model.named_parameters())
    theta = {k: p.detach().clone() for k, p in params.items()}
    device = next(iter(theta.values())).device
    d1 = {k: v.to(device) for k, v in d1.items()}
    d2 = {k: v.to(device) for k, v in d2.items()}
    was_training = model.training
    model.eval()
    losses = np.zeros((len(rows), len(grid.betas)))
    errors = np.zeros((len(rows), len(grid.betas)))
    try:
        for i, row in enumerate(rows):
            alpha = float(grid.alphas[row])
            row_base = {k: theta[k] + alpha * d1[k] for k in theta}
            for j, beta in enumerate(grid.betas):
                for k, p in params.items():
                    torch.add(row_base[k], d2[k], alpha=float(beta), out=p.data)
                logits = model(x).double()
                losses[i, j] = F.cross_entropy(logits, y).item()
                errors[i, j] = (logits.argmax(1) != y).double().mean().item()
    finally:
        for k, p in params.items():
            p.data.copy_(theta[k])
        model.train(was_training)
    return losses, errors


# -- landscapes of a stored study ---------------------------------------------


def landscape_path(study: Study, run: str, config: LandscapeConfig) -> Path:
    settings = json.dumps(
        {"run": run, **dataclasses.asdict(config)}, sort_keys=True, default=list
    )
    key = hashlib.sha256(settings.encode()).hexdigest()[:12]
    return study.store.analysis_path("landscapes", f"{run}-{key}.npz")


def compute_landscapes(
    study: Study, config: LandscapeConfig, workers: int = 1
) -> dict[str, dict[str, np.ndarray]]:
    """Return the landscape of each run in ``config.runs``, computing what is missing.

    Each result holds ``alphas``, ``betas``, ``loss`` and ``error``
    (``(n_alpha, n_beta)``), ``direction_seed`` and ``direction_cosine``. The
    rows of the missing grids are shared among ``workers`` processes.
    """
    for run in config.runs:
        study.run(run)
    grid = Grid.from_config(config)
    missing = [r for r in config.runs if not landscape_path(study, r, config).exists()]
    tasks = [
        (run, rows)
        for run in missing
        for rows in _row_chunks(len(grid.alphas), workers)
    ]
    parts: dict[str, list] = {run: [] for run in missing}
    if tasks and workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [
                pool.submit(
                    _evaluate_rows,
                    study.config,
                    str(study.store.root),
                    run,
                    config,
                    rows,
                )
                for run, rows in tasks
            ]
            for (run, rows), future in zip(tasks, futures):
                parts[run].append((rows, future.result()))
    else:
        for run, rows in tasks:
            parts[run].append(
                (
                    rows,
                    _evaluate_rows(
                        study.config, study.store.root, run, config, rows, study
                    ),
                )
            )
    for run in missing:
        loss = np.zeros((len(grid.alphas), len(grid.betas)))
        error = np.zeros_like(loss)
        for rows, (row_loss, row_error, _) in parts[run]:
            loss[rows] = row_loss
            error[rows] = row_error
        cosine = parts[run][0][1][2]  # the same in every chunk: one pair of directions
        save_arrays(
            landscape_path(study, run, config),
            alphas=grid.alphas,
            betas=grid.betas,
            loss=loss,
            error=error,
            direction_seed=np.int64(config.direction_seed),
            direction_cosine=np.float64(cosine),
        )
    return {r: load_arrays(landscape_path(study, r, config)) for r in config.runs}


def _row_chunks(n_rows: int, workers: int) -> list[list[int]]:
    # Interleaved rows balance the work, since far rows are no slower than near ones.
    n_chunks = max(1, workers)
    return [list(range(i, n_rows, n_chunks)) for i in range(n_chunks)]


def _evaluate_rows(
    study_config, store_root, run, config, rows, study: Study | None = None
):
    from funcsim_lib.study import Study

    if study is None:
        torch.set_num_threads(1)
        study = Study(study_config, store_root)
    model = study.model(run)
    d1, d2 = random_directions(model, config.direction_seed)
    data = study.data
    loss, error = evaluate_grid(
        model, data.test_x, data.test_y, d1, d2, Grid.from_config(config), rows
    )
    return loss, error, direction_cosine(d1, d2)
