"""The run store: one folder per study, written atomically, read without pickle.

Layout of a study folder ``<root>/<profile>-<config hash>/``::

    manifest.json                 configuration, versions, code version, hardware
    test_labels.npy               (n_test,) int64
    runs/<run>/run.json           seeds and final metrics; written last, so it
                                  marks a finished run
    runs/<run>/weights.safetensors            final weights
    runs/<run>/epochs/epoch_NNN.safetensors   weights after epoch NNN (optional)
    runs/<run>/logits.npy         (n_epochs + 1, n_test, n_classes) float32
    runs/<run>/log.json           one record per epoch
    runs/<run>/resume/            the checkpoint of an unfinished run
    analyses/...                  landscape grids and other derived arrays

Every file is written under a temporary name and renamed into place, so an
interrupted job never leaves a half-written file that looks whole.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from funcsim_lib.config import STORE_FORMAT, StudyConfig

PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "scipy",
    "scikit-learn",
    "safetensors",
)


class StoreMismatchError(ValueError):
    """A study folder holds a different configuration from the one requested."""


def study_folder_name(study: StudyConfig) -> str:
    return f"{study.profile}-{study.config_hash()}"


class StudyStore:
    """The folder of one study.

    Opening creates the folder and its manifest, or checks that an existing
    manifest describes exactly ``study`` and raises ``StoreMismatchError``
    listing the differences otherwise.
    """

    def __init__(self, root: str | os.PathLike, study: StudyConfig) -> None:
        self.root = Path(root)
        self.study = study
        self.path = self.root / study_folder_name(study)
        manifest_path = self.path / "manifest.json"
        if manifest_path.exists():
            self.manifest = read_json(manifest_path)
            check_manifest(self.manifest, study, manifest_path)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self.manifest = build_manifest(study)
            write_json(manifest_path, self.manifest)

    # -- runs -------------------------------------------------------------

    def run_path(self, run: str) -> Path:
        return self.path / "runs" / run

    def has_run(self, run: str) -> bool:
        return (self.run_path(run) / "run.json").exists()

    def write_run(
        self,
        run: str,
        weights: dict[str, torch.Tensor],
        logits: np.ndarray,
        log: list[dict[str, Any]],
        info: dict[str, Any],
    ) -> None:
        """Store a finished run; ``run.json`` goes last as the completion mark."""
        folder = self.run_path(run)
        save_tensors(folder / "weights.safetensors", weights)
        save_array(folder / "logits.npy", logits)
        write_json(folder / "log.json", log)
        write_json(folder / "run.json", info)

    def write_epoch_weights(
        self, run: str, epoch: int, weights: dict[str, torch.Tensor]
    ) -> None:
        save_tensors(self.epoch_weights_path(run, epoch), weights)

    def epoch_weights_path(self, run: str, epoch: int) -> Path:
        return self.run_path(run) / "epochs" / f"epoch_{epoch:03d}.safetensors"

    def load_run_info(self, run: str) -> dict[str, Any]:
        self._require_run(run)
        return read_json(self.run_path(run) / "run.json")

    def load_logits(self, run: str) -> np.ndarray:
        """Return the logits ``(n_epochs + 1, n_test, n_classes)`` of ``run``."""
        self._require_run(run)
        return load_array(self.run_path(run) / "logits.npy")

    def load_log(self, run: str) -> list[dict[str, Any]]:
        self._require_run(run)
        return read_json(self.run_path(run) / "log.json")

    def load_weights(
        self, run: str, epoch: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Return the final weights of ``run``, or those after ``epoch``."""
        self._require_run(run)
        if epoch is None:
            return load_file(self.run_path(run) / "weights.safetensors")
        path = self.epoch_weights_path(run, epoch)
        if not path.exists():
            raise FileNotFoundError(
                f"no weights for epoch {epoch} of run {run!r} at {path}; per-epoch "
                "weights are stored when train.save_epoch_weights is true"
            )
        return load_file(path)

    def completed_runs(self) -> list[str]:
        runs = self.path / "runs"
        if not runs.is_dir():
            return []
        return sorted(p.name for p in runs.iterdir() if (p / "run.json").exists())

    def _require_run(self, run: str) -> None:
        if not self.has_run(run):
            done = ", ".join(self.completed_runs()) or "none"
            raise FileNotFoundError(
                f"run {run!r} is not finished in {self.path} (finished runs: {done}); "
                "train the study first, e.g. `funcsim train --profile "
                f"{self.study.profile}`"
            )

    # -- study-level arrays and derived analyses -------------------------

    def save_test_labels(self, labels: np.ndarray) -> None:
        save_array(self.path / "test_labels.npy", np.asarray(labels, dtype=np.int64))

    def load_test_labels(self) -> np.ndarray:
        return load_array(self.path / "test_labels.npy")

    def analysis_path(self, *parts: str) -> Path:
        return self.path.joinpath("analyses", *parts)


# -- manifest ---------------------------------------------------------------


def build_manifest(study: StudyConfig) -> dict[str, Any]:
    return {
        "store_format": STORE_FORMAT,
        "config_hash": study.config_hash(),
        "config": study.to_dict(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "code_version": code_version(),
        "hardware": hardware(study.device),
    }


def check_manifest(manifest: dict[str, Any], study: StudyConfig, path: Path) -> None:
    expected = json.loads(json.dumps(study.to_dict()))
    differences = list(diff_dicts(manifest.get("config", {}), expected))
    if manifest.get("store_format") != STORE_FORMAT:
        differences.append(
            f"store_format: stored {manifest.get('store_format')!r}, "
            f"requested {STORE_FORMAT!r}"
        )
    if differences:
        listing = "\n  ".join(differences)
        raise StoreMismatchError(
            f"{path} describes a different study than the one requested:\n  "
            f"{listing}\nUse another store folder, or delete {path.parent} to "
            "train this configuration there."
        )


def diff_dicts(stored: Any, requested: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(stored, dict) and isinstance(requested, dict):
        for key in sorted(set(stored) | set(requested)):
            yield from diff_dicts(
                stored.get(key, "<missing>"),
                requested.get(key, "<missing>"),
                f"{prefix}{key}.",
            )
    elif stored != requested:
        yield f"{prefix.rstrip('.')}: stored {stored!r}, requested {requested!r}"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Return the Python version and the installed version of each package."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version() -> str:
    """Return the git commit of this checkout, marked ``-dirty`` when changed."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "funcsim_lib"],
            cwd=here.parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + ("-dirty" if status else "")


def hardware(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "system": platform.platform(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# -- atomic file helpers ----------------------------------------------------


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace_into_place(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    replace_into_place(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def save_array(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    with open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
    replace_into_place(tmp, path)


def load_array(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write several named arrays to one ``.npz`` file, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    with open(tmp, "wb") as handle:
        np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()})
    replace_into_place(tmp, path)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    save_file(tensors, str(tmp))
    replace_into_place(tmp, path)
