import json
import shutil

import numpy as np
import pytest

from funcsim_lib.config import resolve_study
from funcsim_lib.store import (
    StoreError,
    StoreMismatchError,
    StudyStore,
    build_manifest,
    save_array,
    study_folder_name,
    write_json,
)
from funcsim_lib.study import Study
from funcsim_lib.training import train_study


def test_manifest_records_provenance(smoke_study, smoke_config):
    manifest = json.loads((smoke_study.path / "manifest.json").read_text())
    assert manifest["config_hash"] == smoke_config.config_hash()
    assert manifest["config"]["init_seeds"] == list(smoke_config.init_seeds)
    assert "torch" in manifest["versions"] and "timm" in manifest["versions"]
    assert manifest["code_version"]
    assert manifest["hardware"]["device"] == "cpu"


def test_folder_named_by_profile_and_hash(smoke_study, smoke_config):
    assert smoke_study.path.name == f"smoke-{smoke_config.config_hash()}"


def test_mismatched_manifest_rejected_with_differences(tmp_path):
    config = resolve_study("smoke")
    store = StudyStore(tmp_path, config)
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["config"]["train"]["epochs"] = 9
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreMismatchError) as error:
        StudyStore(tmp_path, config)
    message = str(error.value)
    assert "train.epochs: stored 9, requested 2" in message
    assert "delete" in message


def test_unfinished_run_named_in_error(tmp_path):
    store = StudyStore(tmp_path, resolve_study("smoke"))
    with pytest.raises(FileNotFoundError, match="run 'base' is not finished"):
        store.load_logits("base")


def test_atomic_write_leaves_no_temporary(tmp_path):
    save_array(tmp_path / "a.npy", np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]


def test_object_arrays_not_loadable(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    from funcsim_lib.store import load_array

    with pytest.raises(ValueError, match="allow_pickle"):
        load_array(path)


def test_completed_runs_listed(smoke_study):
    assert set(smoke_study.store.completed_runs()) == {r.name for r in smoke_study.runs}


# -- folders and files that cannot be used as they are ----------------------


@pytest.fixture
def copied_study(smoke_study, smoke_config, tmp_path):
    """Return a store root holding a copy of the trained smoke study."""
    shutil.copytree(smoke_study.path, tmp_path / smoke_study.path.name)
    return tmp_path


def test_folder_without_manifest_rejected(copied_study, smoke_config):
    folder = copied_study / study_folder_name(smoke_config)
    (folder / "manifest.json").unlink()
    with pytest.raises(StoreError) as error:
        StudyStore(copied_study, smoke_config)
    message = str(error.value)
    assert str(folder) in message
    assert "but no manifest.json" in message
    assert "Move the folder away or delete it" in message
    assert not (folder / "manifest.json").exists()
    assert (folder / "runs" / "base" / "run.json").exists()


def test_folder_of_other_epochs_rejected(smoke_study, tmp_path):
    """A 2-epoch study copied under the folder name of a 1-epoch study."""
    other = resolve_study("smoke", **{"train.epochs": 1})
    folder = tmp_path / study_folder_name(other)
    shutil.copytree(smoke_study.path, folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(StoreError, match="but no manifest.json"):
        StudyStore(tmp_path, other)
    with pytest.raises(StoreError, match="but no manifest.json"):
        train_study(other, tmp_path, workers=1)
    assert not (folder / "manifest.json").exists()


def test_run_of_other_epochs_rejected(smoke_study, tmp_path):
    other = resolve_study("smoke", **{"train.epochs": 1})
    folder = tmp_path / study_folder_name(other)
    shutil.copytree(smoke_study.path, folder)
    write_json(folder / "manifest.json", build_manifest(other))
    store = StudyStore(tmp_path, other)
    with pytest.raises(StoreError) as error:
        store.has_run("base")
    message = str(error.value)
    assert "run.json records 2 epochs, but train.epochs is 1" in message
    assert f"Delete {folder / 'runs' / 'base'}" in message


def test_logits_of_other_epochs_rejected(copied_study, smoke_config):
    store = StudyStore(copied_study, smoke_config)
    path = store.run_path("base") / "logits.npy"
    save_array(path, np.zeros((41, 100, 10), dtype=np.float32))
    with pytest.raises(StoreError) as error:
        store.load_logits("base")
    message = str(error.value)
    assert "shape (41, 100, 10), expected float32 of shape (3, 100, 10)" in message
    assert str(path) in message


def test_truncated_manifest_named(copied_study, smoke_config):
    path = copied_study / study_folder_name(smoke_config) / "manifest.json"
    path.write_text(path.read_text()[:12])
    with pytest.raises(StoreError) as error:
        StudyStore(copied_study, smoke_config)
    message = str(error.value)
    assert f"{path} is not valid JSON" in message
    assert "Restore manifest.json from a copy" in message


def test_manifest_of_wrong_type_named(copied_study, smoke_config):
    path = copied_study / study_folder_name(smoke_config) / "manifest.json"
    path.write_text("[1, 2]")
    with pytest.raises(StoreError) as error:
        StudyStore(copied_study, smoke_config)
    message = str(error.value)
    assert f"{path} must be a JSON object" in message
    assert "found a JSON array: [1, 2]" in message


@pytest.mark.parametrize("keep_bytes", [20, 1000])
def test_truncated_logits_not_finished(copied_study, smoke_config, keep_bytes):
    store = StudyStore(copied_study, smoke_config)
    path = store.run_path("disdo_1") / "logits.npy"
    path.write_bytes(path.read_bytes()[:keep_bytes])
    with pytest.raises(StoreError) as error:
        store.has_run("disdo_1")
    message = str(error.value)
    assert str(path) in message
    assert f"Delete {store.run_path('disdo_1')}" in message
    assert store.has_run("base")


def test_truncated_logits_rejected_by_study(copied_study, smoke_config):
    path = copied_study / study_folder_name(smoke_config) / "runs/base/logits.npy"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(StoreError, match="logits.npy is cut short"):
        Study(smoke_config, copied_study)
    with pytest.raises(StoreError, match="logits.npy is cut short"):
        train_study(smoke_config, copied_study, workers=1)
    assert len(path.read_bytes()) == 1000


@pytest.mark.parametrize(
    "name", ["weights.safetensors", "epochs/epoch_001.safetensors", "log.json"]
)
def test_missing_run_file_named(copied_study, smoke_config, name):
    store = StudyStore(copied_study, smoke_config)
    path = store.run_path("siddo_2") / name
    path.unlink()
    with pytest.raises(StoreError, match=f"{path} is missing"):
        store.load_weights("siddo_2")


def test_truncated_weights_named(copied_study, smoke_config):
    store = StudyStore(copied_study, smoke_config)
    path = store.run_path("replica") / "weights.safetensors"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(StoreError, match=f"{path} is not a readable safetensors"):
        store.has_run("replica")


def test_damaged_run_json_named(copied_study, smoke_config):
    store = StudyStore(copied_study, smoke_config)
    path = store.run_path("base") / "run.json"
    path.write_text("{")
    with pytest.raises(StoreError, match=f"{path} is not valid JSON"):
        store.has_run("base")


def test_store_that_is_a_file_rejected(tmp_path, smoke_config):
    root = tmp_path / "store"
    root.write_text("")
    with pytest.raises(StoreError) as error:
        StudyStore(root, smoke_config)
    assert f"{root} is a file, not a folder" in str(error.value)
