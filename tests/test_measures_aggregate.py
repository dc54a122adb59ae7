"""Pairwise and cross-epoch matrices, block processing and intervals."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from funcsim_lib import measures
from funcsim_lib.measures import REGISTRY, UndefinedMeasureWarning
from funcsim_lib.measures.summary import _bootstrap_means


@pytest.fixture(scope="module")
def study_like():
    """Logits of 4 models x 3 epochs x 40 samples x 5 classes, and labels."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 3, 40, 5)) * 2
    logits[1, :, :20] = logits[0, :, :20]  # some agreement between 0 and 1
    labels = rng.integers(0, 5, 40)
    return logits, labels


def direct(name, a, b, labels):
    function = REGISTRY[name].function
    if "ground truth" in REGISTRY[name].reads:
        return function(a, b, labels)
    return function(a, b)


def test_pairwise_matrices_match_single_pairs(study_like):
    logits, labels = study_like
    matrices = measures.pairwise_measures(logits, labels=labels)
    assert set(matrices) == set(measures.PAIR_OUTPUT_MEASURES)
    for name, values in matrices.items():
        assert values.shape == (3, 4, 4)
        for i in range(4):
            for j in range(4):
                expected = direct(name, logits[i], logits[j], labels)
                np.testing.assert_allclose(
                    values[:, i, j], expected, rtol=1e-12, atol=1e-15, err_msg=name
                )


def test_pairwise_diagonal_is_the_identity(study_like):
    logits, labels = study_like
    matrices = measures.pairwise_measures(logits, labels=labels)
    for name, values in matrices.items():
        diagonal = values[:, range(4), range(4)]
        assert np.all(diagonal == REGISTRY[name].identity), name


def test_pairwise_accepts_function_name_or_callable(study_like):
    logits, _ = study_like
    by_function = measures.pairwise(measures.js_divergence, logits)
    by_name = measures.pairwise("js_divergence", logits)
    np.testing.assert_array_equal(by_function, by_name)

    def unregistered(a, b):
        return measures.js_divergence(a, b)

    np.testing.assert_allclose(
        measures.pairwise(unregistered, logits), by_function, atol=1e-15
    )


def test_pairwise_passes_options(study_like):
    logits, _ = study_like
    bits = measures.pairwise("js_divergence", logits, unit="bits")
    nats = measures.pairwise("js_divergence", logits)
    np.testing.assert_allclose(bits, nats / np.log(2.0), rtol=1e-14)
    churn = measures.pairwise("surrogate_churn", logits, alpha=2.0)
    expected = measures.surrogate_churn(logits[0], logits[2], alpha=2.0)
    np.testing.assert_allclose(churn[:, 0, 2], expected, rtol=1e-12)


def test_pairwise_rejects_group_measure(study_like):
    with pytest.raises(ValueError, match="ambiguity is a group measure"):
        measures.pairwise("ambiguity", study_like[0])


def test_threads_give_identical_results(study_like):
    logits, labels = study_like
    one = measures.pairwise_measures(logits, labels=labels, chunk_size=7)
    two = measures.pairwise_measures(logits, labels=labels, chunk_size=7, workers=2)
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])


def test_torch_threads_restored(study_like):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        measures.pairwise_measures(study_like[0], ["js_divergence"], workers=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_blocks_that_split_epochs_equal_whole(study_like):
    logits, labels = study_like
    whole = measures.pairwise_measures(logits, labels=labels)
    for chunk_size in (1, 13, 40, 80, 1000):
        blocks = measures.pairwise_measures(
            logits, labels=labels, chunk_size=chunk_size
        )
        for name in whole:
            np.testing.assert_allclose(blocks[name], whole[name], rtol=1e-13)


@pytest.mark.parametrize("chunk_size", [1, 7, None])
def test_inputs_are_left_unchanged(study_like, chunk_size):
    logits, labels = study_like
    for values, inputs in (
        (logits, "logits"),
        (measures.softmax(logits), "probabilities"),
    ):
        before = values.copy()
        measures.pairwise_measures(
            values, labels=labels, inputs=inputs, chunk_size=chunk_size
        )
        np.testing.assert_array_equal(values, before)


def test_one_model_rejected():
    logits = np.zeros((1, 2, 5, 3))
    with pytest.raises(ValueError, match=r"at least 2 models.*\(1, 2, 5, 3\)"):
        measures.pairwise_measures(logits, ["js_divergence"])


def test_block_error_reports_the_global_index(study_like):
    logits = study_like[0].copy()
    logits[2, 1, 33, 4] = np.nan
    with pytest.raises(ValueError, match=r"logits\[2\] must be finite.*\(1, 33, 4\)"):
        measures.pairwise("js_divergence", logits, chunk_size=10)


# Prints how far the peak resident memory rose during one engine call, in
# bytes, after a warm-up call that takes torch's one-off allocations out.
_PEAK_RISE = """
import sys
import numpy as np
from funcsim_lib import measures

def peak():
    # VmHWM is this process's own peak; ru_maxrss would start from the
    # parent's, which Linux keeps across exec.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

chosen = ["js_divergence", "cosine_similarity", "activation_distance"]
measures.pairwise_measures(np.zeros((3, 1, 10, 10), np.float32), chosen)
n_samples = int(sys.argv[1])
logits = np.random.default_rng(1).standard_normal((3, 1, n_samples, 10), np.float32)
before = peak()
measures.pairwise_measures(logits, chosen, chunk_size=2_000)
print(peak() - before)
"""


def _peak_rise(n_samples: int) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RISE, str(n_samples)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout)


def test_memory_bounded_by_blocks_not_samples():
    # torch's allocations are invisible to tracemalloc, so the peak resident
    # memory of a separate process is measured instead.
    small, large = _peak_rise(50_000), _peak_rise(400_000)
    input_size = 3 * 400_000 * 10 * 4  # 48 MB; float64 copies would be 96 MB
    assert large < small + 8 * 2**20
    assert large < input_size / 4


def test_cross_epochs_entries_match_single_pairs(study_like):
    logits, labels = study_like
    for name in ("js_divergence", "error_corrected_disagreement", "cohens_kappa"):
        options = {"labels": labels} if "ground truth" in REGISTRY[name].reads else {}
        matrix = measures.cross_epochs(name, logits[0], logits[2], **options)
        assert matrix.shape == (3, 3)
        for i in range(3):
            for j in range(3):
                expected = direct(name, logits[0, i], logits[2, j], labels)
                assert matrix[i, j] == pytest.approx(expected, rel=1e-12), name


def test_cross_epochs_self_diagonal_zero(study_like):
    logits = study_like[0][0]
    matrix = measures.cross_epochs(measures.disagreement, logits, logits)
    np.testing.assert_array_equal(np.diag(matrix), 0.0)


def test_cross_epochs_shape_mismatch_quotes_shapes():
    with pytest.raises(ValueError, match=r"\(2, 5, 3\) and \(2, 6, 3\)"):
        measures.cross_epochs("disagreement", np.zeros((2, 5, 3)), np.zeros((2, 6, 3)))


def test_against_reference_matches_single_pairs(study_like):
    logits, labels = study_like
    values = measures.against_reference(
        "error_corrected_disagreement", logits[1:], logits[0], labels=labels
    )
    assert values.shape == (3, 3)
    for k in range(3):
        expected = measures.error_corrected_disagreement(
            logits[k + 1], logits[0], labels
        )
        np.testing.assert_allclose(values[k], expected, rtol=1e-12)


def test_pair_values_and_spread():
    upper = np.triu(np.arange(18, dtype=float).reshape(2, 3, 3), k=1)
    matrices = upper + upper.transpose(0, 2, 1)
    values = measures.pair_values(matrices)
    np.testing.assert_array_equal(values, [[1, 2, 5], [10, 11, 14]])
    mean, low, high = measures.spread(values)
    np.testing.assert_allclose(mean, [8 / 3, 35 / 3])
    np.testing.assert_array_equal(low, [1, 10])
    np.testing.assert_array_equal(high, [5, 14])


def brute_force_resample_mean(matrix, counts):
    runs = np.repeat(np.arange(len(counts)), counts)
    values = [
        matrix[r, s]
        for a, r in enumerate(runs)
        for b, s in enumerate(runs)
        if a < b and r != s
    ]
    return np.mean(values)


def test_bootstrap_weights_match_explicit_resamples():
    rng = np.random.default_rng(2)
    matrix = rng.random((4, 4))
    matrix = matrix + matrix.T
    means = _bootstrap_means(matrix[None], 200, np.random.default_rng(3))
    counts = np.random.default_rng(3).multinomial(4, np.full(4, 0.25), 200)
    kept = counts[(counts > 0).sum(axis=1) > 1]
    expected = [brute_force_resample_mean(matrix, c) for c in kept]
    np.testing.assert_allclose(means[:, 0], expected, rtol=1e-12)


def test_bootstrap_interval_contains_the_mean_and_is_seeded():
    rng = np.random.default_rng(4)
    matrices = rng.random((5, 6, 6))
    matrices = matrices + matrices.transpose(0, 2, 1)
    first = measures.pair_mean_interval(matrices, seed=1)
    again = measures.pair_mean_interval(matrices, seed=1)
    np.testing.assert_array_equal(first.low, again.low)
    np.testing.assert_allclose(first.estimate, measures.pair_values(matrices).mean(-1))
    assert np.all(first.low <= first.estimate)
    assert np.all(first.estimate <= first.high)
    assert first.method == "bootstrap-runs"


def test_t_interval_matches_scipy():
    rng = np.random.default_rng(5)
    matrices = rng.random((2, 5, 5))
    matrices = matrices + matrices.transpose(0, 2, 1)
    got = measures.pair_mean_interval(matrices, method="t-pairs", confidence=0.9)
    for e, values in enumerate(measures.pair_values(matrices)):
        low, high = stats.t.interval(
            0.9, len(values) - 1, loc=values.mean(), scale=stats.sem(values)
        )
        assert got.low[e] == pytest.approx(low, rel=1e-12)
        assert got.high[e] == pytest.approx(high, rel=1e-12)


def test_welch_difference_matches_scipy():
    rng = np.random.default_rng(6)
    a, b = rng.random((2, 3, 4, 4))
    a, b = a + a.transpose(0, 2, 1), b + b.transpose(0, 2, 1) + 0.5
    got = measures.pair_mean_difference(a, b, method="t-pairs")
    for e in range(3):
        result = stats.ttest_ind(
            measures.pair_values(a)[e], measures.pair_values(b)[e], equal_var=False
        )
        low, high = result.confidence_interval(0.95)
        assert got.low[e] == pytest.approx(low, rel=1e-10)
        assert got.high[e] == pytest.approx(high, rel=1e-10)


def test_bootstrap_difference_separates_shifted_groups():
    rng = np.random.default_rng(7)
    a = rng.random((1, 6, 6)) * 0.1
    b = a + 1.0
    difference = measures.pair_mean_difference(b, a)
    assert difference.estimate[0] == pytest.approx(1.0)
    assert measures.interval_sign(difference)[0] == 1
    assert measures.interval_sign(measures.pair_mean_difference(a, b))[0] == -1
    same = measures.pair_mean_difference(a, a[:, ::-1, ::-1])
    assert measures.interval_sign(same)[0] == 0


def test_interval_settings_rejected():
    matrices = np.zeros((1, 3, 3))
    with pytest.raises(ValueError, match="method must be one of"):
        measures.pair_mean_interval(matrices, method="jackknife")
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 95"):
        measures.pair_mean_interval(matrices, confidence=95)
    with pytest.raises(ValueError, match=r"n_epochs, n_models, n_models.*\(3, 3\)"):
        measures.pair_mean_interval(np.zeros((3, 3)))


def test_pairwise_warns_once_for_undefined_values():
    logits = np.zeros((3, 2, 4, 3))
    logits[..., 0] = 1.0  # every model predicts class 0 everywhere
    with pytest.warns(UndefinedMeasureWarning) as caught:
        kappa = measures.pairwise("cohens_kappa", logits)
    assert len(caught) == 1
    assert np.isnan(kappa).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        measures.pairwise("disagreement", logits)


def test_similarity_margin_sign_follows_kind():
    rng = np.random.default_rng(8)
    close = rng.random((2, 4, 4)) * 0.1
    far = close + 1.0
    distance = measures.similarity_margin(far, close, "distance")
    similarity = measures.similarity_margin(close, far, "similarity")
    assert np.all(measures.interval_sign(distance) == 1)
    assert np.all(measures.interval_sign(similarity) == 1)
    with pytest.raises(ValueError, match="kind must be 'distance' or 'similarity'"):
        measures.similarity_margin(far, close, "divergence")


def test_pair_values_asymmetric_both_orders():
    rng = np.random.default_rng(7)
    matrices = rng.random((2, 4, 4))
    matrices[:, range(4), range(4)] = 0.0
    values = measures.pair_values(matrices)
    assert values.shape == (2, 12)
    order = [2, 0, 3, 1]
    shuffled = matrices[:, order][:, :, order]
    np.testing.assert_allclose(
        measures.pair_values(shuffled).mean(-1), values.mean(-1), rtol=1e-14
    )


def test_pair_values_symmetric_once():
    rng = np.random.default_rng(8)
    upper = np.triu(rng.random((2, 4, 4)), k=1)
    values = measures.pair_values(upper + upper.transpose(0, 2, 1))
    assert values.shape == (2, 6)
