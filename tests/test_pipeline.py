"""The whole path on the smoke profile: train, execute notebooks, build the site."""

import re

import pytest

from funcsim_lib.cli import main
from funcsim_lib.pipeline import BuildOptions, build_book


@pytest.fixture(scope="module")
def smoke_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    options = BuildOptions(
        profile="smoke", store_dir=root / "studies", output_root=root, workers=1
    )
    html = build_book(options)
    return html, options


def test_site_has_every_page(smoke_site):
    html, _ = smoke_site
    for page in (
        "book/intro",
        "notebooks/traditional",
        "notebooks/qualitative",
        "notebooks/quantitative",
    ):
        assert (html / f"{page}.html").exists(), page


def test_figures_use_shared_plotly_js(smoke_site):
    html, _ = smoke_site
    assert (html / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    for page in ("traditional", "qualitative", "quantitative"):
        text = (html / "notebooks" / f"{page}.html").read_text()
        assert "Plotly.newPlot" in text
        assert re.search(r'<script src="\.\./_static/plotly\.min\.js', text)
        assert len(text) < 1_000_000  # plotly.js itself is not embedded


def test_glued_numbers_in_text(smoke_site):
    html, _ = smoke_site
    text = (html / "notebooks" / "quantitative.html").read_text()
    assert "within SIDDO" in text
    assert "glue:text" not in text and "jsd_siddo_end" not in text


def test_injected_parameters_hidden(smoke_site):
    html, _ = smoke_site
    text = (html / "notebooks" / "traditional.html").read_text()
    assert "injected-parameters" not in text


def test_rebuild_reuses_everything(smoke_site):
    _, options = smoke_site
    again = BuildOptions(**{**options.__dict__, "timings": {}})
    build_book(again)
    assert again.timings["notebooks"] < 2.0


def test_cli_rejects_unknown_setting(capsys):
    assert main(["train", "--profile", "smoke", "--set", "train.epochz=3"]) == 2
    assert "unknown setting 'train.epochz'" in capsys.readouterr().err


def test_cli_rejects_bad_value(capsys):
    assert main(["train", "--profile", "smoke", "--set", "train.epochs=many"]) == 2
    assert "train.epochs must be int, got 'many'" in capsys.readouterr().err
