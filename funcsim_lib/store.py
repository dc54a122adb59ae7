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
from funcsim_lib.store_checks import (
    StoreError,
    check_safetensors,
    json_type_name,
    read_json,
    read_npy_header,
    safetensors_errors,
)

PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "scipy",
    "scikit-learn",
    "safetensors",
)


class StoreMismatchError(StoreError):
    """A study folder holds a different configuration from the one requested."""


def study_folder_name(study: StudyConfig) -> str:
    return f"{study.profile}-{study.config_hash()}"


class StudyStore:
    """The folder of one study.

    Opening creates the folder and its manifest, or checks that an existing
    manifest describes exactly ``study`` and raises ``StoreMismatchError``
    listing the differences otherwise. A folder that already contains data
    but no manifest raises ``StoreError``, because nothing could show which
    configuration its runs were trained with.
    """

    def __init__(self, root: str | os.PathLike, study: StudyConfig) -> None:
        self.root = Path(root)
        self.study = study
        self.path = self.root / study_folder_name(study)
        # Runs whose files passed _check_run. The check reads headers only,
        # but a notebook loads the same run many times.
        self._checked_runs: set[str] = set()
        manifest_path = self.path / "manifest.json"
        if manifest_path.exists():
            self.manifest = read_manifest(manifest_path)
            check_manifest(self.manifest, study, manifest_path)
        else:
            reject_data_without_manifest(self.path)
            make_folder(self.path)
            self.manifest = build_manifest(study)
            write_json(manifest_path, self.manifest)

    # -- runs -------------------------------------------------------------

    def run_path(self, run: str) -> Path:
        return self.path / "runs" / run

    def has_run(self, run: str) -> bool:
        """Return whether ``run`` is finished and its files are whole.

        A run without ``run.json`` is unfinished and may be trained again. A run
        with it raises ``StoreError`` when another of its files is missing or
        damaged, or when its files describe another number of epochs, so a
        damaged run is neither reused nor silently overwritten.
        """
        if not (self.run_path(run) / "run.json").exists():
            return False
        if run not in self._checked_runs:
            self._check_run(run)
            self._checked_runs.add(run)
        return True

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
            return load_tensors(self.run_path(run) / "weights.safetensors")
        path = self.epoch_weights_path(run, epoch)
        if not path.exists():
            raise FileNotFoundError(
                f"no weights for epoch {epoch} of run {run!r} at {path}; per-epoch "
                "weights are stored when train.save_epoch_weights is true"
            )
        return load_tensors(path)

    def completed_runs(self) -> list[str]:
        """Return the runs that have a ``run.json``; ``has_run`` checks their files."""
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

    def _check_run(self, run: str) -> None:
        """Raise ``StoreError`` naming the first unusable file of finished ``run``."""
        folder = self.run_path(run)
        try:
            self._check_run_records(folder)
            self._check_run_logits(folder / "logits.npy")
            check_safetensors(folder / "weights.safetensors")
            if self.study.train.save_epoch_weights:
                for epoch in range(self.study.train.epochs + 1):
                    check_safetensors(self.epoch_weights_path(run, epoch))
        except StoreError as error:
            raise StoreError(
                f"run {run!r} has a run.json but cannot be used: {error}. Delete "
                f"{folder} and train the study again to train this run anew."
            ) from error

    def _check_run_records(self, folder: Path) -> None:
        """Check that run.json and log.json record ``train.epochs`` epochs."""
        epochs = self.study.train.epochs
        info_path = folder / "run.json"
        recorded = final_epoch(read_json(info_path), info_path)
        if recorded != epochs:
            raise StoreError(
                f"{info_path} records {recorded} epochs, but train.epochs is {epochs}"
            )
        log_path = folder / "log.json"
        log = read_json(log_path)
        if not isinstance(log, list):
            raise StoreError(
                f"{log_path} must be a JSON array of epoch records, found a JSON "
                f"{json_type_name(log)}"
            )
        if len(log) != epochs + 1:
            raise StoreError(
                f"{log_path} contains {len(log)} epoch records, expected "
                f"{epochs + 1} (epochs 0 to {epochs})"
            )

    def _check_run_logits(self, path: Path) -> None:
        """Check the logits' shape and dtype against the configuration."""
        epochs = self.study.train.epochs
        n_test = self.study.data.n_test
        n_classes = self.study.model.num_classes
        shape, dtype = read_npy_header(path)
        matches = (
            len(shape) == 3
            and shape[0] == epochs + 1
            and shape[2] == n_classes
            and (n_test is None or shape[1] == n_test)
            and dtype == np.float32
        )
        if not matches:
            expected = f"({epochs + 1}, {n_test or 'n_test'}, {n_classes})"
            raise StoreError(
                f"{path} contains a {dtype} array of shape {shape}, expected float32 "
                f"of shape {expected} for train.epochs={epochs}"
            )

    # -- study-level arrays and derived analyses -------------------------

    def save_test_labels(self, labels: np.ndarray) -> None:
        save_array(self.path / "test_labels.npy", np.asarray(labels, dtype=np.int64))

    def load_test_labels(self) -> np.ndarray:
        return load_array(self.path / "test_labels.npy")

    def analysis_path(self, *parts: str) -> Path:
        return self.path.joinpath("analyses", *parts)


# -- opening a study folder ------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    """Read a study's manifest, naming the file and the fix when it is unusable."""
    fix = (
        f"Restore {path.name} from a copy, or move {path.parent} away or delete "
        "it to train this configuration there."
    )
    try:
        manifest = read_json(path)
    except StoreError as error:
        raise StoreError(f"{error}. {fix}") from error
    if not isinstance(manifest, dict):
        raise StoreError(
            f"{path} must be a JSON object describing the study, found a JSON "
            f"{json_type_name(manifest)}: {json.dumps(manifest)[:80]}. {fix}"
        )
    return manifest


def reject_data_without_manifest(folder: Path) -> None:
    """Raise ``StoreError`` when ``folder`` contains stored data but no manifest.

    Adopting such a folder would serve its runs under a configuration they
    may not have been trained with. Hidden entries are temporaries of an
    interrupted write and do not count.
    """
    if not folder.is_dir():
        return
    entries = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    if entries:
        raise StoreError(
            f"{folder} contains stored data ({', '.join(entries)}) but no "
            "manifest.json, so its runs cannot be checked against the requested "
            "configuration. Move the folder away or delete it, then run again to "
            "train this configuration there."
        )


def make_folder(path: Path) -> None:
    """Create ``path`` with its parents, naming the file that blocks it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        blocking = first_file_on(path) or path
        raise StoreError(
            f"cannot create the study folder {path}: {blocking} is a file, not a "
            "folder. Use a folder as the run store (--store), or move the file away."
        ) from error


def first_file_on(path: Path) -> Path | None:
    """Return the first of ``path``'s parents, or ``path``, that is not a folder."""
    for candidate in (*reversed(path.parents), path):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def final_epoch(info: Any, path: Path) -> int:
    """Return the epoch of the final record in a run's ``run.json``."""
    final = info.get("final") if isinstance(info, dict) else None
    epoch = final.get("epoch") if isinstance(final, dict) else None
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise StoreError(f"{path} has no integer final.epoch")
    return epoch


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


def save_array(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    with open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
    replace_into_place(tmp, path)


def load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        raise StoreError(f"{path} is not a readable .npy array: {error}") from error


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


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    with safetensors_errors(path):
        return load_file(path)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    save_file(tensors, str(tmp))
    replace_into_place(tmp, path)
