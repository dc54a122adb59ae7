import json

import numpy as np
import pytest

from funcsim_lib.config import resolve_study
from funcsim_lib.store import StoreMismatchError, StudyStore, save_array


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
