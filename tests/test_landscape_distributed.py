"""Landscapes under torchrun: two gloo CPU ranks give the one-process grids."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from funcsim_lib import distributed
from funcsim_lib.config import LandscapeConfig
from funcsim_lib.landscape import compute_section, tasks
from funcsim_lib.study import Study

REPO = Path(__file__).resolve().parents[1]
CONFIG = LandscapeConfig(n_points=(5, 3), line_points=5, plane_points=(4, 3))
TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for folder in target.glob("*/analyses"):
        shutil.rmtree(folder)
    return target


def run_torchrun(store: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
        "-m", "funcsim_lib.landscape", "--profile", "smoke", "--store", str(store),
        "--section", "--quiet",
        "--landscape", "n_points=[5, 3]",
        "--landscape", "line_points=5",
        "--landscape", "plane_points=[4, 3]",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
    }
    # A session of its own, so a hung rank can be killed with its agent.
    process = subprocess.Popen(
        command, cwd=REPO, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun timed out after {TIMEOUT_S} s:\n{output}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return subprocess.CompletedProcess(command, process.returncode, output)


def test_two_ranks_match_one_process(
    smoke_store_root, smoke_config, tmp_path, monkeypatch
):
    ranked = fresh_copy(smoke_store_root, tmp_path / "ranked")
    result = run_torchrun(ranked)
    assert result.returncode == 0, result.stdout
    assert "plane-base-siddo_1-disdo_1: key" in result.stdout
    alone = Study(smoke_config, fresh_copy(smoke_store_root, tmp_path / "alone"))
    expected = compute_section(alone, CONFIG)

    def no_evaluation(task, study):
        raise AssertionError(f"{task.job.name} was not stored by the ranks")

    monkeypatch.setattr(tasks, "run_task", no_evaluation)
    shared = compute_section(Study(smoke_config, ranked), CONFIG)
    for name, grid in expected.items():
        assert str(shared[name]["key"]) == str(grid["key"]), name
        np.testing.assert_array_equal(shared[name]["loss"], grid["loss"], err_msg=name)
        np.testing.assert_array_equal(shared[name]["error"], grid["error"])
    leftovers = list(ranked.glob("*/analyses/landscapes/*.rows"))
    assert leftovers == []


def test_single_rank_helpers():
    ranks = distributed.current()
    assert (ranks.rank, ranks.world_size, ranks.is_root) == (0, 1, True)
    assert distributed.shard(list(range(7)), distributed.Ranks(1, 3)) == [1, 4]
    assert distributed.gather_to_root("x", ranks) == ["x"]
    assert distributed.broadcast_from_root({"a": 1}, ranks) == {"a": 1}
    assert distributed.device_for(distributed.Ranks(1, 2, 1), "cuda") == "cuda:1"
    assert distributed.device_for(ranks, "cpu") == "cpu"
    with distributed.process_group() as joined:
        assert joined == ranks
