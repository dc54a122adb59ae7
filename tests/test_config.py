import pytest

from funcsim_lib.config import (
    PROFILES,
    LandscapeConfig,
    StudyConfig,
    get_profile,
    replace_fields,
    resolve_study,
)


def test_profiles_resolve():
    for name in PROFILES:
        assert get_profile(name).study.profile == name


def test_unknown_profile_lists_known():
    with pytest.raises(ValueError, match="unknown profile 'mnist'.*digits"):
        get_profile("mnist")


def test_digits_default_matches_design():
    study = resolve_study()
    assert study.k == 3
    assert study.data.name == "digits"
    assert study.model.patch_size == 2
    assert get_profile("digits").landscape.n_points == (51, 51)


def test_hash_stable_and_sensitive():
    a = resolve_study("smoke")
    assert a.config_hash() == resolve_study("smoke").config_hash()
    b = resolve_study("smoke", **{"train.epochs": 3})
    assert a.config_hash() != b.config_hash()


def test_overrides_coerce_lists_and_ints():
    study = resolve_study("smoke", init_seeds=[7, 8, 9], **{"train.lr": 1})
    assert study.init_seeds == (7, 8, 9)
    assert study.train.lr == 1.0


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"train.epochs": "3"}, TypeError, "train.epochs must be int, got '3'"),
        ({"train.epochz": 3}, ValueError, "unknown setting 'train.epochz'"),
        ({"init_seeds": [1, "a", 2]}, TypeError, r"init_seeds\[1\] must be int"),
        ({"train": 3}, TypeError, "group of settings"),
        ({"train.epochs": 0}, ValueError, "at least 1, got 0"),
        ({"init_seeds": [1, 1, 2]}, ValueError, "distinct"),
        ({"init_seeds": [1, 2]}, ValueError, "same length"),
        ({"model.embed_dim": 15}, ValueError, "multiple of model.num_heads"),
        ({"train.save_epoch_weights": 1}, TypeError, "must be bool"),
    ],
)
def test_invalid_overrides_name_the_setting(overrides, error, message):
    with pytest.raises(error, match=message):
        resolve_study("smoke", **overrides)


def test_replace_fields_on_landscape():
    config = replace_fields(LandscapeConfig(), {"n_points": [7, 9]})
    assert config.n_points == (7, 9)
    with pytest.raises(TypeError, match="2 elements"):
        replace_fields(LandscapeConfig(), {"n_points": [7]})


def test_seeds_must_be_ints():
    with pytest.raises(TypeError, match="tuple of int"):
        StudyConfig(init_seeds=(0, 1.5))
