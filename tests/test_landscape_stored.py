"""Landscape grids in the run store: keys, reuse, resume, workers, lines, planes."""

import json
import shutil

import numpy as np
import pytest
import torch

from funcsim_lib.config import LandscapeConfig
from funcsim_lib.landscape import (
    Interpolation,
    ModelPlane,
    Plane,
    RandomPlane,
    compute_landscapes,
    compute_section,
    compute_surfaces,
    evaluate_points,
    evaluation_inputs,
    section_jobs,
    stored,
    tasks,
)
from funcsim_lib.store import load_arrays, save_arrays, save_tensors
from funcsim_lib.study import Study

SMALL = LandscapeConfig(
    n_points=(5, 3),
    line_points=5,
    plane_points=(4, 3),
    runs=("base", "siddo_1", "disdo_1"),
)


@pytest.fixture
def study(smoke_store_root, smoke_config, tmp_path):
    """A private copy of the smoke study, without any landscapes."""
    root = tmp_path / "store"
    shutil.copytree(smoke_store_root, root)
    for folder in root.glob("*/analyses"):
        shutil.rmtree(folder)
    return Study(smoke_config, root)


def grid_files(study):
    return sorted(p.name for p in study.store.analysis_path("landscapes").glob("*.npz"))


def count_rows(monkeypatch):
    """Record the rows every in-process task evaluates."""
    seen = []
    original = tasks.run_task

    def recording(task, study):
        seen.extend((task.job.name, row) for row in task.rows)
        return original(task, study)

    monkeypatch.setattr(tasks, "run_task", recording)
    return seen


def test_stored_and_reused(study, monkeypatch):
    first = compute_landscapes(study, SMALL)
    seen = count_rows(monkeypatch)
    second = compute_landscapes(study, SMALL)
    assert seen == []
    assert first["base"]["loss"].shape == (5, 3)
    for run in SMALL.runs:
        np.testing.assert_array_equal(first[run]["loss"], second[run]["loss"])
        np.testing.assert_array_equal(first[run]["error"], second[run]["error"])


def test_stored_fields(study):
    grid = compute_landscapes(study, SMALL)["base"]
    settings = json.loads(str(grid["settings"]))
    assert settings["direction_seed"] == SMALL.direction_seed
    assert settings["n_points"] == [5, 3]
    assert settings["weights_sha256"].keys() == {"base"}
    assert int(grid["direction_seed"]) == SMALL.direction_seed
    assert abs(float(grid["direction_cosine"])) < 0.2
    np.testing.assert_array_equal(grid["alphas"], np.linspace(-1, 1, 5))
    assert any(str(grid["key"]) in name for name in grid_files(study))


def test_centre_matches_training_log(study):
    config = LandscapeConfig(n_points=(3, 5), runs=("base", "disdo_1"))
    grids = compute_landscapes(study, config)
    for run in config.runs:
        final = study.log(run)[-1]
        assert grids[run]["loss"][1, 2] == pytest.approx(final["test_loss"], rel=1e-6)
        accuracy = 1 - grids[run]["error"][1, 2]
        assert accuracy == pytest.approx(final["test_accuracy"], abs=1e-12)


def test_resume_computes_missing_rows_only(study, monkeypatch):
    job = RandomPlane("base", SMALL)
    prepared = stored.prepare(study, job)
    # An interrupted attempt that finished rows 0 and 3 only.
    tasks.run_task(stored.make_task(prepared, [0, 3], "cpu", "auto"), study)
    assert len(list(prepared.rows_dir.glob("rows-*.npz"))) == 1
    seen = count_rows(monkeypatch)
    resumed = compute_surfaces(study, [job])[0]
    assert sorted(row for _, row in seen) == [1, 2, 4]
    assert not prepared.rows_dir.exists()
    fresh = stored.merge(
        prepared,
        [tasks.run_task(stored.make_task(prepared, range(5), "cpu", "auto"), study)],
    )
    np.testing.assert_array_equal(resumed["loss"], fresh["loss"])
    np.testing.assert_array_equal(resumed["error"], fresh["error"])


def test_rows_of_another_grid_ignored(study, monkeypatch):
    job = RandomPlane("base", SMALL)
    prepared = stored.prepare(study, job)
    save_arrays(
        prepared.rows_dir / "rows-foreign.npz",
        key=np.array("0123456789abcdef"),
        rows=np.array([0, 1]),
        loss=np.zeros((2, 4)),
        error=np.zeros((2, 4)),
    )
    seen = count_rows(monkeypatch)
    grid = compute_surfaces(study, [job])[0]
    assert sorted(row for _, row in seen) == [0, 1, 2, 3, 4]
    assert np.all(grid["loss"] > 0)


def test_changed_weights_not_reused(study):
    before = compute_landscapes(study, SMALL)["base"]
    weights = study.store.load_weights("base")
    weights["head.weight"] = weights["head.weight"] * 1.5
    save_tensors(study.store.run_path("base") / "weights.safetensors", weights)
    after = compute_landscapes(study, SMALL)["base"]
    assert str(after["key"]) != str(before["key"])
    assert not np.array_equal(after["loss"], before["loss"])
    assert len([n for n in grid_files(study) if n.startswith("random-base")]) == 2


def test_changed_directions_not_reused(study):
    token = compute_landscapes(study, SMALL)["base"]
    zero = compute_landscapes(
        study, LandscapeConfig(**{**SMALL.__dict__, "embed_policy": "zero"})
    )["base"]
    seeded = compute_landscapes(
        study, LandscapeConfig(**{**SMALL.__dict__, "direction_seed": 9})
    )["base"]
    keys = {str(g["key"]) for g in (token, zero, seeded)}
    assert len(keys) == 3
    assert not np.array_equal(token["loss"], zero["loss"])


def test_tampered_file_recomputed(study, monkeypatch):
    grid = compute_landscapes(study, SMALL)["base"]
    path = next(study.store.analysis_path("landscapes").glob("random-base-*.npz"))
    arrays = load_arrays(path)
    settings = json.loads(str(arrays["settings"]))
    settings["direction_seed"] = 99
    arrays["settings"] = np.array(json.dumps(settings, sort_keys=True))
    arrays["loss"] = np.zeros_like(arrays["loss"])
    save_arrays(path, **arrays)
    seen = count_rows(monkeypatch)
    again = compute_landscapes(study, SMALL)["base"]
    assert len(seen) == 5
    np.testing.assert_array_equal(again["loss"], grid["loss"])


def test_workers_give_same_grids(study, smoke_store_root, smoke_config, tmp_path):
    config = LandscapeConfig(n_points=(5, 3), line_points=4, plane_points=(3, 3))
    shared = compute_section(study, config, workers=2)
    other_root = tmp_path / "other"
    shutil.copytree(study.store.root, other_root)
    for folder in other_root.glob("*/analyses"):
        shutil.rmtree(folder)
    alone = compute_section(Study(smoke_config, other_root), config, workers=1)
    assert shared.keys() == alone.keys()
    for name in shared:
        np.testing.assert_array_equal(shared[name]["loss"], alone[name]["loss"])
        np.testing.assert_array_equal(shared[name]["error"], alone[name]["error"])
        assert str(shared[name]["key"]) == str(alone[name]["key"])


def test_line_ends_are_the_models(study):
    config = LandscapeConfig(line_points=5, line_span=(-0.5, 1.5))
    line = compute_surfaces(study, [Interpolation("base", "siddo_1", config)])[0]
    np.testing.assert_allclose(line["alphas"], [-0.5, 0.0, 0.5, 1.0, 1.5])
    assert line["loss"].shape == (5,)
    assert "betas" not in line
    for index, run in ((1, "base"), (3, "siddo_1")):
        final = study.log(run)[-1]
        assert line["loss"][index] == pytest.approx(final["test_loss"], rel=1e-5)
    weights = [study.store.load_weights(r) for r in ("base", "siddo_1")]
    distance = (
        sum(
            float((weights[1][k] - weights[0][k]).double().pow(2).sum())
            for k in weights[0]
        )
        ** 0.5
    )
    assert float(line["distance"]) == pytest.approx(distance, rel=1e-9)


def test_model_plane_passes_through_runs(study):
    job = ModelPlane(("base", "siddo_1", "disdo_1"), SMALL)
    models = {r: study.model(r) for r in job.runs}
    axes, extras = job.build_axes(models)
    e1 = torch.cat([a.reshape(-1) for a in axes[0].values()]).double()
    e2 = torch.cat([a.reshape(-1) for a in axes[1].values()]).double()
    assert float(e1 @ e2) == pytest.approx(0.0, abs=1e-6)
    assert float(e1.norm()) == pytest.approx(1.0, rel=1e-6)
    assert float(e2.norm()) == pytest.approx(1.0, rel=1e-6)
    coordinates = extras["model_coordinates"]
    np.testing.assert_array_equal(coordinates[0], [0.0, 0.0])
    assert coordinates[1, 1] == 0.0
    assert coordinates[2, 1] > 0
    x, y = evaluation_inputs(study, SMALL)
    plane = Plane.around(models["base"], *axes)
    loss, _ = evaluate_points(models["base"], x, y, plane, coordinates)
    for index, run in enumerate(job.runs):
        final = study.log(run)[-1]
        assert loss[index] == pytest.approx(final["test_loss"], rel=1e-5), run
    grid = compute_surfaces(study, [job])[0]
    assert grid["loss"].shape == (4, 3)
    assert grid["alphas"][0] < 0 < coordinates[1, 0] < grid["alphas"][-1]
    assert list(grid["model_runs"]) == list(job.runs)


def test_input_subset_is_fixed(study):
    config = LandscapeConfig(n_inputs=30)
    x, y = evaluation_inputs(study, config)
    again_x, _ = evaluation_inputs(study, config)
    assert len(y) == 30
    assert torch.equal(x, again_x)
    assert len(evaluation_inputs(study, LandscapeConfig())[1]) == len(study.data.test_y)


def test_section_jobs_names():
    names = [job.name for job in section_jobs(SMALL)]
    assert names == [
        "random-base",
        "random-siddo_1",
        "random-disdo_1",
        "line-base-siddo_1",
        "line-base-disdo_1",
        "plane-base-siddo_1-disdo_1",
    ]
    two = LandscapeConfig(runs=("base", "disdo_2"))
    assert [job.kind for job in section_jobs(two)] == ["random", "random", "line"]


def test_invalid_requests_rejected(study):
    with pytest.raises(ValueError, match="workers must be a positive int"):
        compute_landscapes(study, SMALL, workers=0)
    with pytest.raises(ValueError, match="unknown run 'siddo_9'"):
        compute_landscapes(study, LandscapeConfig(runs=("siddo_9",)))
    with pytest.raises(ValueError, match="three distinct runs"):
        ModelPlane(("base", "base", "disdo_1"), SMALL)
    with pytest.raises(ValueError, match="start and end must differ"):
        Interpolation("base", "base", SMALL)
    # On the CPU, replica reproduces base bit for bit.
    job = ModelPlane(("base", "replica", "siddo_1"), SMALL)
    with pytest.raises(ValueError, match="'base' and 'replica' are equal"):
        job.build_axes({r: study.model(r) for r in job.runs})


def test_collinear_models_rejected():
    models = {name: torch.nn.Linear(3, 2) for name in ("a", "b", "c")}
    with torch.no_grad():
        for pa, pb, pc in zip(*(models[n].parameters() for n in "abc")):
            pc.copy_(pa + 2 * (pb - pa))
    with pytest.raises(ValueError, match="lie on one line"):
        ModelPlane(("a", "b", "c"), SMALL).build_axes(models)
