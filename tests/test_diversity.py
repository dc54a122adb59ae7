import itertools

import numpy as np
import pytest

from funcsim_lib import diversity
from funcsim_lib.measures import disagreement


@pytest.fixture(scope="module")
def smoke_logits(smoke_study):
    names = [r.name for r in smoke_study.runs]
    conditions = {r.name: r.condition for r in smoke_study.runs}
    return smoke_study.logits_of(names), names, conditions


def one_hot_logits(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Return logits whose arg max is ``predictions``."""
    return np.eye(n_classes)[np.asarray(predictions)] * 5.0


def test_model_against_itself_has_zero_diagonal(smoke_logits):
    logits, names, _ = smoke_logits
    matrices = diversity.epoch_matrices(logits, names)
    itself = matrices[("base", "base")]
    np.testing.assert_array_equal(np.diagonal(itself), 0)
    np.testing.assert_array_equal(itself, itself.T)
    summary = diversity.matrix_summary(itself)
    assert summary["diagonal_max"] == 0
    assert summary["first_to_last"] == itself[1, -1]


def test_epoch_matrix_entries_compare_those_epochs(smoke_logits):
    logits, names, _ = smoke_logits
    matrices = diversity.epoch_matrices(logits, names)
    assert list(matrices) == list(diversity.EPOCH_MATRIX_PAIRS)
    siddo, base = logits[names.index("siddo_1")], logits[names.index("base")]
    matrix = matrices[("siddo_1", "base")]
    assert matrix.shape == (3, 3)
    for i, j in itertools.product(range(3), repeat=2):
        assert matrix[i, j] == disagreement(siddo[i], base[j])
    # Same initialisation: the two runs start from the same function.
    assert matrix[0, 0] == 0


def test_epoch_matrices_reject_unknown_run(smoke_logits):
    logits, names, _ = smoke_logits
    with pytest.raises(ValueError, match=r"runs \['siddo_9'\] not found"):
        diversity.epoch_matrices(logits, names, pairs=[("siddo_9", "base")])


def test_matrix_summary_rejects_non_square():
    with pytest.raises(ValueError, match=r"must be square .* got shape \(2, 3\)"):
        diversity.matrix_summary(np.zeros((2, 3)))


def test_disagreement_by_condition_groups_runs(smoke_logits):
    logits, names, conditions = smoke_logits
    values = diversity.disagreement_by_condition(logits, names, conditions)
    assert values["siddo"].shape == (2, 3)
    assert values["disdo"].shape == (2, 3)
    np.testing.assert_array_equal(values["replica"], 0)
    np.testing.assert_array_equal(values["siddo"][:, 0], 0)
    disdo_2 = logits[names.index("disdo_2")]
    expected = disagreement(disdo_2, logits[names.index("base")])
    np.testing.assert_array_equal(values["disdo"][1], expected)


def test_accuracy_and_label_checks():
    logits = one_hot_logits([0, 1, 2, 2], 3)
    assert diversity.accuracy(logits, np.array([0, 1, 2, 0])) == 0.75
    with pytest.raises(ValueError, match=r"labels must have shape \(n_samples,\)"):
        diversity.accuracy(logits, np.array([0, 1]))
    with pytest.raises(TypeError, match="labels must be integers"):
        diversity.accuracy(logits, np.array([0.0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        diversity.accuracy(logits, np.array([0, 1, 3, 0]))


def test_error_corrected_disagreement_by_hand():
    labels = np.array([0, 0, 0, 0, 1])
    model = one_hot_logits([0, 1, 1, 0, 1], 2)  # 2 errors of 5
    reference = one_hot_logits([0, 0, 1, 1, 1], 2)  # differs on samples 1 and 3
    # Two epochs per run; epoch 1 is the one placed in the plane.
    logits = np.stack([np.stack([model, model]), np.stack([reference, reference])])
    points = diversity.diversity_points(
        logits, ("model", "reference"), labels, reference="reference"
    )
    assert points.corrected[0, 0] == pytest.approx((2 / 5) / (2 / 5))
    assert points.disagreement[0, 0] == pytest.approx(2 / 5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_limits_are_the_extremes_over_all_predictions(n_classes):
    """Enumerate every prediction of 6 samples against a fixed reference."""
    labels = np.zeros(6, dtype=int)
    reference = np.array([0, 0, 0, 0, 1, n_classes - 1])  # accuracy 4/6
    extremes: dict[int, list[float]] = {}
    for predictions in itertools.product(range(n_classes), repeat=6):
        predictions = np.array(predictions)
        correct = int((predictions == labels).sum())
        share = float((predictions != reference).mean())
        low, high = extremes.get(correct, [1.0, 0.0])
        extremes[correct] = [min(low, share), max(high, share)]
    for correct, (low, high) in extremes.items():
        if correct == 6:
            continue  # no error to divide by
        accuracy = np.array([correct / 6])
        limits = diversity.diversity_limits(accuracy, 4 / 6, n_classes)
        error = 1 - correct / 6
        assert limits["lower"][0] * error == pytest.approx(low), correct
        assert limits["upper"][0] * error == pytest.approx(high), correct


def test_independent_limit_matches_simulation():
    rng = np.random.default_rng(0)
    n, n_classes, a, r = 400_000, 10, 0.8, 0.9
    labels = np.zeros(n, dtype=int)

    def predict(share_correct):
        wrong = rng.integers(1, n_classes, size=n)
        return np.where(rng.random(n) < share_correct, labels, wrong)

    simulated = (predict(a) != predict(r)).mean() / (1 - a)
    limits = diversity.diversity_limits(np.array([a]), r, n_classes)
    assert limits["independent"][0] == pytest.approx(simulated, rel=0.01)
    assert limits["lower"][0] <= limits["independent"][0] <= limits["upper"][0]


def test_limits_reject_bad_values():
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        diversity.diversity_limits(np.array([1.2]), 0.9, 10)
    with pytest.raises(ValueError, match="n_classes must be at least 2, got 1"):
        diversity.diversity_limits(np.array([0.5]), 0.9, 1)
    limits = diversity.diversity_limits(np.array([1.0]), 0.9, 10)
    assert np.isnan(limits["upper"][0])


def test_diversity_points_against_final_base(smoke_study, smoke_logits):
    logits, names, conditions = smoke_logits
    labels = smoke_study.test_labels()
    points = diversity.diversity_points(logits, names, labels)
    assert points.accuracy.shape == (len(names), 2)
    np.testing.assert_array_equal(points.epochs, [1, 2])
    base = names.index("base")
    assert points.reference_accuracy == points.accuracy[base, -1]
    assert points.disagreement[base, -1] == 0
    assert points.disagreement[names.index("replica"), -1] == 0
    error = 1 - points.accuracy
    np.testing.assert_allclose(points.corrected * error, points.disagreement)
    summary = diversity.diversity_summary(points, conditions)
    assert set(summary) == {"siddo", "disdo"}
    assert summary["siddo"]["of_independent"] > 0


def test_diversity_points_reject_bad_first_epoch(smoke_study, smoke_logits):
    logits, names, _ = smoke_logits
    with pytest.raises(ValueError, match=r"first_epoch must be in \[0, 2\], got 3"):
        diversity.diversity_points(logits, names, smoke_study.test_labels(), "base", 3)
