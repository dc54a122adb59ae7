"""Reading a trained study: its runs, logits, test data and models."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from funcsim_lib.config import StudyConfig
from funcsim_lib.data import Dataset, load_dataset
from funcsim_lib.models import build_model
from funcsim_lib.store import StudyStore
from funcsim_lib.training import RunSpec, study_runs


class Study:
    """A finished study in the run store, opened for analysis."""

    def __init__(self, config: StudyConfig, store_root: str | os.PathLike) -> None:
        self.config = config
        self.store = StudyStore(store_root, config)
        self.runs: list[RunSpec] = study_runs(config)
        missing = [r.name for r in self.runs if not self.store.has_run(r.name)]
        if missing:
            raise FileNotFoundError(
                f"the study in {self.store.path} is missing runs {missing}; train it "
                f"first with `funcsim train --profile {config.profile}` or "
                "funcsim_lib.training.train_study"
            )

    @property
    def path(self) -> Path:
        return self.store.path

    def run(self, name: str) -> RunSpec:
        for run in self.runs:
            if run.name == name:
                return run
        known = ", ".join(r.name for r in self.runs)
        raise ValueError(f"unknown run {name!r}; this study has: {known}")

    def runs_of(self, condition: str) -> list[RunSpec]:
        return [r for r in self.runs if r.condition == condition]

    def logits(self, name: str) -> np.ndarray:
        """Return ``(n_epochs + 1, n_test, n_classes)`` float32 logits of a run."""
        self.run(name)
        return self.store.load_logits(name)

    def logits_of(self, names: list[str]) -> np.ndarray:
        """Return ``(n_runs, n_epochs + 1, n_test, n_classes)`` for ``names``."""
        return np.stack([self.logits(n) for n in names])

    def test_labels(self) -> np.ndarray:
        return self.store.load_test_labels()

    def log(self, name: str) -> list[dict]:
        self.run(name)
        return self.store.load_log(name)

    @functools.cached_property
    def data(self) -> Dataset:
        data = load_dataset(self.config.data)
        if not np.array_equal(data.test_y.numpy(), self.test_labels()):
            raise ValueError(
                f"the test set loaded now differs from the one stored in {self.path}; "
                "the data folder or its contents changed since the study was trained"
            )
        return data

    def model(
        self, name: str, epoch: int | None = None, device: str = "cpu"
    ) -> torch.nn.Module:
        """Return run ``name``'s model after ``epoch`` (None: the last), eval mode."""
        run = self.run(name)
        model = build_model(self.config.model, run.init_seed)
        model.load_state_dict(self.store.load_weights(name, epoch))
        return model.to(device).eval()
