"""Shared fixtures: one trained smoke study and one built smoke site per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from funcsim_lib.config import resolve_study
from funcsim_lib.pipeline import BuildOptions, build_book
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


@pytest.fixture(scope="session")
def smoke_site(tmp_path_factory, smoke_store_root) -> tuple[Path, BuildOptions]:
    """Build the whole book from the smoke study once; return the HTML folder.

    The pipeline tests and the browser test read the same build, since one
    takes about a minute.
    """
    root = tmp_path_factory.mktemp("site")
    options = BuildOptions(
        profile="smoke", store_dir=smoke_store_root, output_root=root, workers=1
    )
    html = build_book(options)
    return html, options


@pytest.fixture
def cifar10_root() -> Path:
    if not (SHARED_CIFAR10 / "train").is_dir():
        pytest.skip(f"the CIFAR-10 JPEG copy is not at {SHARED_CIFAR10}")
    return SHARED_CIFAR10
