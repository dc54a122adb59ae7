"""Shared fixtures: one trained smoke study for the whole test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from funcsim_lib.config import resolve_study
from funcsim_lib.study import Study
from funcsim_lib.training import train_study

SHARED_CIFAR10 = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg"
)


@pytest.fixture(scope="session")
def smoke_config():
    return resolve_study("smoke")


@pytest.fixture(scope="session")
def smoke_store_root(tmp_path_factory, smoke_config) -> Path:
    root = tmp_path_factory.mktemp("store")
    train_study(smoke_config, root, workers=1)
    return root


@pytest.fixture(scope="session")
def smoke_study(smoke_store_root, smoke_config) -> Study:
    return Study(smoke_config, smoke_store_root)


@pytest.fixture
def cifar10_root() -> Path:
    if not (SHARED_CIFAR10 / "train").is_dir():
        pytest.skip(f"the CIFAR-10 JPEG copy is not at {SHARED_CIFAR10}")
    return SHARED_CIFAR10
