import numpy as np
import pytest
import torch

from funcsim_lib.config import resolve_study
from funcsim_lib.data import load_dataset
from funcsim_lib.store import StudyStore
from funcsim_lib.training import (
    epoch_generator,
    lr_factor,
    study_runs,
    train_run,
    train_study,
)


def test_runs_and_seeds(smoke_config):
    runs = {r.name: r for r in study_runs(smoke_config)}
    assert list(runs) == ["base", "siddo_1", "siddo_2", "disdo_1", "disdo_2", "replica"]
    base = runs["base"]
    assert runs["siddo_2"].init_seed == base.init_seed
    assert runs["siddo_2"].data_seed == smoke_config.data_seeds[2]
    assert runs["disdo_1"].data_seed == base.data_seed
    assert runs["disdo_1"].init_seed == smoke_config.init_seeds[1]
    assert (runs["replica"].init_seed, runs["replica"].data_seed) == (
        base.init_seed,
        base.data_seed,
    )


def test_logits_shape(smoke_study, smoke_config):
    logits = smoke_study.logits("base")
    assert logits.shape == (smoke_config.train.epochs + 1, 100, 10)
    assert logits.dtype == np.float32


def test_replica_equals_base_bit_for_bit(smoke_study):
    assert np.array_equal(smoke_study.logits("base"), smoke_study.logits("replica"))
    base = smoke_study.store.load_weights("base")
    replica = smoke_study.store.load_weights("replica")
    assert all(torch.equal(base[k], replica[k]) for k in base)


def test_siddo_equals_base_at_epoch_0_only(smoke_study):
    base, siddo = smoke_study.logits("base"), smoke_study.logits("siddo_1")
    assert np.array_equal(base[0], siddo[0])
    assert not np.array_equal(base[1], siddo[1])


def test_disdo_differs_at_epoch_0(smoke_study):
    assert not np.array_equal(
        smoke_study.logits("base")[0], smoke_study.logits("disdo_1")[0]
    )


def test_same_config_gives_identical_store(tmp_path, smoke_config, smoke_study):
    store = train_study(smoke_config, tmp_path, workers=1)
    for run in study_runs(smoke_config):
        assert np.array_equal(store.load_logits(run.name), smoke_study.logits(run.name))
        a = store.load_weights(run.name)
        b = smoke_study.store.load_weights(run.name)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_workers_do_not_change_results(tmp_path, smoke_config, smoke_study):
    store = train_study(smoke_config, tmp_path, workers=2)
    for run in study_runs(smoke_config):
        assert np.array_equal(store.load_logits(run.name), smoke_study.logits(run.name))


def test_epoch_weights_match_logits(smoke_study):
    model = smoke_study.model("siddo_1", epoch=1)
    data = smoke_study.data
    with torch.inference_mode():
        logits = model(data.test_x).numpy()
    np.testing.assert_allclose(
        logits, smoke_study.logits("siddo_1")[1], rtol=0, atol=1e-6
    )


def test_log_records_every_epoch(smoke_study, smoke_config):
    log = smoke_study.log("base")
    assert [r["epoch"] for r in log] == list(range(smoke_config.train.epochs + 1))
    assert log[0]["train_loss"] is None
    assert 0.0 <= log[-1]["test_accuracy"] <= 1.0


def test_resume_continues_exactly(tmp_path, monkeypatch):
    config = resolve_study("smoke", **{"train.epochs": 3})
    data = load_dataset(config.data)
    run = study_runs(config)[1]
    full = StudyStore(tmp_path / "full", config)
    train_run(config, run, data, full)

    import funcsim_lib.training as training

    # Interrupt the run right after its checkpoint of epoch 2 is written.
    original = training.save_resume
    calls = []

    def save_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_resume", save_then_stop)
    broken = StudyStore(tmp_path / "broken", config)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, run, data, broken)
    assert not broken.has_run(run.name)
    monkeypatch.setattr(training, "save_resume", original)
    train_run(config, run, data, broken)
    assert np.array_equal(full.load_logits(run.name), broken.load_logits(run.name))
    a, b = full.load_weights(run.name), broken.load_weights(run.name)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (broken.run_path(run.name) / "resume").exists()


def test_training_leaves_global_rng_and_threads_alone(tmp_path, smoke_config):
    threads = torch.get_num_threads()
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    data = load_dataset(smoke_config.data)
    train_run(
        smoke_config,
        study_runs(smoke_config)[0],
        data,
        StudyStore(tmp_path, smoke_config),
    )
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_epoch_generators_independent():
    a = torch.rand(4, generator=epoch_generator(0, 1))
    assert torch.equal(a, torch.rand(4, generator=epoch_generator(0, 1)))
    assert not torch.equal(a, torch.rand(4, generator=epoch_generator(0, 2)))
    assert not torch.equal(a, torch.rand(4, generator=epoch_generator(1, 1)))


def test_lr_schedule_warms_up_then_decays():
    values = [lr_factor(s, 100, 0.1) for s in range(100)]
    assert values[0] == pytest.approx(0.1)
    assert values[9] == pytest.approx(1.0)
    assert values[-1] < 0.01
    assert all(a >= b for a, b in zip(values[9:], values[10:]))


def test_invalid_workers_rejected(smoke_config, tmp_path):
    with pytest.raises(ValueError, match="workers must be a positive int, got 0"):
        train_study(smoke_config, tmp_path, workers=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_missing_cuda_names_the_fix(tmp_path):
    config = resolve_study("smoke", device="cuda")
    with pytest.raises(ValueError, match="no CUDA device.*device=cpu"):
        train_study(config, tmp_path)


def test_unknown_device_rejected(tmp_path):
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda"):
        train_study(resolve_study("smoke", device="gpu0"), tmp_path)
