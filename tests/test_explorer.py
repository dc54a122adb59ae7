"""The explorer's widgets on the smoke study, and the example pair."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax

from funcsim_lib import explorer


def reference_measures(logits_a: np.ndarray, logits_b: np.ndarray) -> dict:
    """Compute the measures for one input with numpy and scipy alone."""
    p = softmax(logits_a.astype(float))
    q = softmax(logits_b.astype(float))
    return {
        "disagreement": float(p.argmax() != q.argmax()),
        "activation distance": float(np.linalg.norm(p - q)),
        "cosine similarity": float(p @ q / (np.linalg.norm(p) * np.linalg.norm(q))),
        # scipy returns the square root of the divergence, in nats by default
        "JS divergence (nats)": float(jensenshannon(p, q) ** 2),
    }


@pytest.fixture
def view(smoke_study):
    return explorer.Explorer(smoke_study, "base", "siddo_1")


def test_initial_state(view, smoke_study):
    n_epochs = smoke_study.config.train.epochs
    assert view.epoch.value == n_epochs
    assert view.epoch.max == n_epochs
    assert view.sample.max == len(smoke_study.test_labels()) - 1
    assert list(view.values) == list(explorer.MEASURES)
    assert len(view.figure.data) == 3  # the input, then both probability vectors


def test_values_match_reference(view, smoke_study):
    for run_b, epoch, sample in (("siddo_1", 2, 0), ("disdo_2", 1, 7), ("base", 0, 3)):
        view.run_b.value = run_b
        view.epoch.value = epoch
        view.sample.value = sample
        a = smoke_study.logits("base")[epoch, sample]
        b = smoke_study.logits(run_b)[epoch, sample]
        expected = reference_measures(a, b)
        for name, value in expected.items():
            assert view.values[name] == pytest.approx(value, abs=1e-9), name


def test_controls_change_outputs(view):
    before_values = dict(view.values)
    before_table = view.table.value
    before_bars = np.array(view.figure.data[2].y)
    view.run_b.value = "disdo_1"
    assert view.values != before_values
    assert view.table.value != before_table
    assert not np.array_equal(np.array(view.figure.data[2].y), before_bars)
    image = np.array(view.figure.data[0].z)
    view.sample.value = 5
    assert not np.array_equal(np.array(view.figure.data[0].z), image)
    assert "test input 5" in view.figure.layout.title.text
    bars = np.array(view.figure.data[1].y)
    view.epoch.value = 0
    assert not np.array_equal(np.array(view.figure.data[1].y), bars)
    assert "epoch 0" in view.figure.layout.title.text


def test_displayed_widget_follows_controls(view):
    view.run_b.value = "disdo_1"
    view.sample.value = 3
    assert len(view.plot.data) == 3
    np.testing.assert_array_equal(view.plot.data[2].y, view.figure.data[2].y)
    np.testing.assert_array_equal(view.plot.data[0].z, view.figure.data[0].z)
    assert view.plot.layout.title.text == view.figure.layout.title.text
    assert view.plot in view.widget.children


def test_same_run_twice_is_identical(view):
    view.run_b.value = "base"
    assert view.values["disagreement"] == 0.0
    assert view.values["activation distance"] == 0.0
    assert view.values["JS divergence (nats)"] == 0.0
    assert view.values["cosine similarity"] == pytest.approx(1.0)


def test_summary_names_both_runs(view, smoke_study):
    label = smoke_study.test_labels()[view.sample.value]
    assert "base predicts" in view.summary.value
    assert "siddo_1 predicts" in view.summary.value
    assert f"loss on label {label}" in view.summary.value


def test_replica_equals_base(view):
    view.run_b.value = "replica"
    assert view.values["activation distance"] == 0.0


def test_unknown_run_rejected(smoke_study):
    with pytest.raises(ValueError, match="run_b must be a run of the study"):
        explorer.Explorer(smoke_study, "base", "siddo_9")


def test_equal_loss_pair_same_prediction_and_loss():
    p_a, p_b = explorer.equal_loss_pair(0.32, 0.30)
    for p in (p_a, p_b):
        assert p.sum() == pytest.approx(1.0)
        assert int(p.argmax()) == 3
        assert -np.log(p[3]) == pytest.approx(1.1394, abs=1e-4)
    values = explorer.compare_outputs(np.log([p_a]), np.log([p_b]))
    assert values["disagreement"] == 0.0
    assert values["activation distance"] > 0.2
    assert values["cosine similarity"] < 0.9


@pytest.mark.parametrize(
    "p_true, runner_up, message",
    [
        (0.05, 0.01, "p_true must be in"),
        (0.32, 0.32, "runner_up must be in"),
        (0.32, -0.1, "runner_up must be in"),
        (0.6, 0.5, "runner_up must be in"),
    ],
)
def test_equal_loss_pair_rejects(p_true, runner_up, message):
    with pytest.raises(ValueError, match=message):
        explorer.equal_loss_pair(p_true, runner_up)


def test_measures_table_lists_every_measure():
    values = dict.fromkeys(explorer.MEASURES, 0.5)
    table = explorer.measures_table(values)
    assert table.count("<tr>") == len(explorer.MEASURES)
    assert "larger is more similar" in table
