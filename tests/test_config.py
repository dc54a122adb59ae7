import math

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


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({"span": (-math.inf, 1.0, -1.0, 1.0)}, ValueError, r"span must be finite"),
        ({"span": (-1.0, 1.0, -1.0)}, TypeError, r"span must be a tuple \(a0, a1"),
        ({"span": (-1.0, 1.0, 1.0, -1.0)}, ValueError, r"span must be \(a0, a1"),
        ({"span": (0.5, 1.0, -1.0, 1.0)}, ValueError, r"a0 <= 0 <= a1.*got \(0.5"),
        ({"span": (0.0, 0.0, -1.0, 1.0)}, ValueError, r"a0 < a1"),
        ({"n_points": (5,)}, TypeError, r"n_points must be a tuple .*got \(5,\)"),
        ({"n_points": 5}, TypeError, r"n_points must be a tuple .*got 5$"),
        ({"n_points": (2.5, 3)}, TypeError, r"\(n_alpha, n_beta\) of ints, got \(2.5"),
        ({"n_points": (True, 3)}, TypeError, r"of ints, got \(True, 3\)"),
        ({"n_points": (10**6, 10**6)}, ValueError, r"maximum of 4,000,000 per grid"),
        ({"runs": "base"}, TypeError, r"runs must be a tuple of run names.*'base'"),
        ({"runs": ()}, ValueError, r"runs must name at least one run"),
        ({"runs": ("base", "base")}, ValueError, r"runs must be distinct"),
        ({"direction_seed": 1.5}, TypeError, r"direction_seed must be an int, got 1.5"),
        ({"direction_seed": -1}, ValueError, r"direction_seed must be at least 0"),
        ({"direction_seed": 2**63}, ValueError, r"direction_seed must be at most"),
        ({"line_span": (-0.5,)}, TypeError, r"line_span must be a tuple \(start, st"),
        ({"line_span": (-0.5, math.nan)}, ValueError, r"line_span must be finite"),
        ({"line_span": (1.0, 0.0)}, ValueError, r"line_span must be increasing"),
        ({"line_points": 1}, ValueError, r"line_points must be at least 2"),
        ({"line_points": 10**7}, ValueError, r"line_points gives a grid of 10,000"),
        ({"plane_points": (31,)}, TypeError, r"plane_points must be a tuple"),
        ({"plane_points": (31, 1.5)}, TypeError, r"plane_points must be a tuple"),
        ({"plane_points": (1, 31)}, ValueError, r"plane_points must be at least 2"),
        ({"plane_points": (3000, 3000)}, ValueError, r"plane_points gives a grid"),
        ({"plane_margin": -0.1}, ValueError, r"plane_margin must be finite and >= 0"),
        ({"plane_margin": math.inf}, ValueError, r"plane_margin must be finite"),
        ({"plane_margin": "0.3"}, TypeError, r"plane_margin must be a number"),
        ({"include_1d": "no"}, TypeError, r"include_1d must be a bool, got 'no'"),
        ({"n_inputs": 2.5}, TypeError, r"n_inputs must be an int, got 2.5"),
        ({"n_inputs": 0}, ValueError, r"n_inputs must be at least 1, got 0"),
    ],
)
def test_landscape_rejects_invalid_field(fields, error, message):
    with pytest.raises(error, match=message) as raised:
        LandscapeConfig(**fields)
    (name,) = fields
    assert f"landscape.{name}" in str(raised.value)


@pytest.mark.parametrize(
    "n_points, span, message",
    [
        ((1, 1), None, r"n_alpha = 1 is fewer than 3; use n_alpha = 3 \("),
        ((4, 4), None, r"n_alpha = 4 points over \[-1.0, 1.0\] miss alpha = 0"),
        ((4, 4), None, r"use n_alpha = 3 or 5 \(a span symmetric about 0 needs an"),
        ((51, 40), None, r"n_beta = 40 .* miss beta = 0; use n_beta = 39 or 41"),
        ((6, 5), (-1.0, 2.0, -1.0, 1.0), r"n_alpha = 6 .* use n_alpha = 4 or 7\."),
        (
            (2, 3),
            (0.0, 1.0, -1.0, 1.0),
            r"n_alpha = 2 is fewer than 3; use n_alpha = 3",
        ),
        ((51, 51), (-1.0, 1.2345678, -1.0, 1.0), r"no count up to 4,000,000"),
    ],
)
def test_landscape_grid_must_contain_model(n_points, span, message):
    fields = (
        {"n_points": n_points} if span is None else {"n_points": n_points, "span": span}
    )
    with pytest.raises(ValueError, match=message) as raised:
        LandscapeConfig(**fields)
    text = str(raised.value)
    assert text.startswith("landscape.n_points must have at least 3 points")
    assert "so that the trained model (0, 0) is a grid point" in text
    assert f"Got n_points {n_points!r}" in text


@pytest.mark.parametrize(
    "n_points, span",
    [
        ((51, 41), (-1.0, 1.0, -1.0, 1.0)),
        ((3, 3), (-1.0, 1.0, -1.0, 1.0)),
        ((99, 5), (-1.0, 1.0, -1.0, 1.0)),
        ((7, 4), (-1.0, 2.0, 0.0, 3.0)),
        ((11, 3), (-0.3, 0.7, -1.0, 0.0)),
        ((2000, 2000), (0.0, 1.0, 0.0, 1.0)),
    ],
)
def test_landscape_accepts_grid_with_model(n_points, span):
    assert LandscapeConfig(n_points=n_points, span=span).n_points == n_points


def test_landscape_stores_numbers_as_floats():
    config = LandscapeConfig(span=(-1, 1, -1, 1), line_span=(0, 1), plane_margin=1)
    assert config == LandscapeConfig(
        span=(-1.0, 1.0, -1.0, 1.0), line_span=(0.0, 1.0), plane_margin=1.0
    )
    assert all(isinstance(v, float) for v in config.span + config.line_span)
    assert isinstance(config.plane_margin, float)


def test_replace_fields_names_landscape_setting():
    with pytest.raises(ValueError, match=r"landscape.n_points .* use n_alpha = 3 or 5"):
        replace_fields(LandscapeConfig(), {"n_points": [4, 5]})
