"""The whole path on the smoke profile: train, execute notebooks, build the site."""

import html as html_module
import json
import re
from pathlib import Path

import nbformat
import pytest

from funcsim_lib import pipeline
from funcsim_lib.cli import main
from funcsim_lib.notebook import ParameterError
from funcsim_lib.pipeline import BuildOptions, build_book

PAGES = (
    "book/intro",
    "notebooks/why",
    "notebooks/traditional",
    "notebooks/qualitative",
    "notebooks/quantitative",
    "notebooks/impact",
    "notebooks/colophon",
    "book/references",
)
# Words of each cited work's entry in the bibliography, in lower case.
CITED = (
    "hansen",
    "fort",
    "visualizing the loss landscape",
    "klabunde",
    "krizhevsky",
    "dosovitskiy",
    "van der maaten",
    "pearson",
    "kruskal",
    "spectral clustering",
    "shannon entropy",
    "chundawat",
)


def page(html: Path, name: str) -> str:
    return (html / f"{name}.html").read_text()


def visible_text(markup: str) -> str:
    """Return the text of an HTML page without tags, with plain spaces only."""
    text = html_module.unescape(re.sub(r"<[^>]+>", "", markup))
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def glued(executed: Path, key: str) -> str:
    """Return the text/plain value glued under ``key`` in an executed notebook."""
    notebook = nbformat.read(executed, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == key:
                data = output["data"]
                return next(v for k, v in data.items() if k.endswith("text/plain"))
    raise KeyError(key)


def test_site_has_every_page(smoke_site):
    html, _ = smoke_site
    for name in PAGES:
        assert (html / f"{name}.html").exists(), name


def test_figures_use_shared_plotly_js(smoke_site):
    html, _ = smoke_site
    assert (html / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    for name in ("why", "traditional", "qualitative", "quantitative"):
        text = page(html, f"notebooks/{name}")
        assert "Plotly.newPlot" in text
        assert len(re.findall(r'<script src="\.\./_static/plotly\.min\.js', text)) == 1
        assert len(text) < 1_000_000  # plotly.js itself is not embedded


def test_no_script_from_another_host(smoke_site):
    html, _ = smoke_site
    for path in html.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script[^>]+src=\"(https?:)?//", text), path
        assert not re.search(r"<link[^>]+href=\"(https?:)?//[^\"]+\.css", text), path


def test_math_uses_shipped_mathjax(smoke_site):
    html, _ = smoke_site
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()
    fonts = html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert any(fonts.glob("*.woff"))
    text = page(html, "notebooks/why")
    assert '<script defer="defer" src="../_static/mathjax/tex-chtml.js' in text


def test_glued_numbers_in_text(smoke_site):
    html, _ = smoke_site
    text = page(html, "notebooks/quantitative")
    assert "within SIDDO" in text
    assert "glue:text" not in text
    assert "jsd_siddo_end" not in text


def test_numbers_glued_across_pages(smoke_site):
    html, options = smoke_site
    executed = options.build_dir / "executed"
    text = page(html, "book/intro")
    low = float(glued(executed / "impact.ipynb", "acc_min"))
    date = glued(executed / "colophon.ipynb", "build_date").strip("'")
    assert f"{low:.1f}" in text
    assert date in text
    assert "ipynb::" not in text


def test_numbered_figure_with_caption(smoke_site):
    html, _ = smoke_site
    text = page(html, "notebooks/why")
    assert re.search(r'<figure[^>]*id="fig-why-example"', text)
    assert '<span class="caption-number">Figure 1' in text
    assert 'href="#fig-why-example"' in text  # the {numref} in the prose


def test_bibliography_lists_cited_works(smoke_site):
    html, _ = smoke_site
    text = visible_text(page(html, "book/references")).lower()
    for work in CITED:
        assert work in text, work
    intro = page(html, "book/intro")
    assert "references.html#id" in intro  # citations link to the bibliography


def test_title_block_on_first_page(smoke_site):
    html, _ = smoke_site
    text = page(html, "book/intro")
    for block in ("d-description", "d-byline", "d-abstract"):
        assert f'class="{block}' in text or f"{block} docutils container" in text
    assert "funcsim.css" in text


def test_build_record_page(smoke_site):
    html, options = smoke_site
    text = page(html, "notebooks/colophon")
    assert "smoke" in text
    for heading in ("The study", "Time of each stage", "Software and hardware"):
        assert heading in text
    for stage in (
        '<code class="docutils literal notranslate"><span class="pre">'
        "train</span></code>",
        "notebooks</span></code>",
    ):
        assert stage in text
    command = "funcsim book --profile smoke --init-seeds 0 1 2 --data-seeds 0 1 2"
    assert command in visible_text(text)
    timings = json.loads((options.build_dir / "timings.json").read_text())
    assert set(timings["seconds"]) == {"train", "notebooks", "record", "site"}
    assert set(timings["executed"]) == set(pipeline.NOTEBOOKS)


def test_injected_parameters_hidden(smoke_site):
    html, _ = smoke_site
    text = page(html, "notebooks/traditional")
    assert "injected-parameters" not in text


def test_rebuild_reuses_everything(smoke_site):
    _, options = smoke_site
    again = BuildOptions(**{**options.__dict__, "timings": {}})
    build_book(again)
    assert again.timings["notebooks"] < 2.0
    assert again.timings["record"] < 2.0


def test_wrong_type_rejected_before_training(tmp_path):
    options = BuildOptions(
        profile="smoke",
        init_seeds="0,1,2",
        store_dir=tmp_path / "studies",
        output_root=tmp_path,
    )
    with pytest.raises(ParameterError, match="parameter 'init_seeds' must be"):
        build_book(options)
    assert not (tmp_path / "studies").exists()
    assert not (tmp_path / "_build").exists()


def test_missing_mathjax_named(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "MATHJAX", tmp_path / "mathjax")
    options = BuildOptions(profile="smoke", store_dir=tmp_path, output_root=tmp_path)
    with pytest.raises(FileNotFoundError, match="npm ci"):
        pipeline.check_options(options)


def test_fatal_warnings_selected():
    lines = [
        "intro.md:14: WARNING: No key 'x' found in glue data [mystnb.glue]",
        'why.ipynb:3: WARNING: could not find bibtex key "nobody2020"',
        "why.ipynb:5: WARNING: undefined label: 'fig-none'",
        "index.md: WARNING: toctree contains a reference to a nonexisting document",
    ]
    assert pipeline.fatal_warnings(lines) == lines[:3]


def test_cli_rejects_unknown_setting(capsys):
    assert main(["train", "--profile", "smoke", "--set", "train.epochz=3"]) == 2
    assert "unknown setting 'train.epochz'" in capsys.readouterr().err


def test_cli_rejects_bad_value(capsys):
    assert main(["train", "--profile", "smoke", "--set", "train.epochs=many"]) == 2
    assert "train.epochs must be int, got 'many'" in capsys.readouterr().err


def test_papermill_retries_dead_kernel_start(tmp_path, monkeypatch):
    import subprocess

    from funcsim_lib import pipeline

    calls = []

    def fake_run(command, env):
        calls.append(command)
        if len(calls) == 1:
            return subprocess.CompletedProcess(
                command, 1, "", f"RuntimeError: {pipeline.KERNEL_START_FAILURE}"
            )
        Path(command[4]).write_text("{}")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(pipeline.children, "run", fake_run)
    target = tmp_path / "why.ipynb"
    pipeline.run_papermill(tmp_path / "source.ipynb", target, {})
    assert len(calls) == 2
    assert target.read_text() == "{}"


def test_papermill_cell_failure_not_retried(tmp_path, monkeypatch):
    import subprocess

    from funcsim_lib import pipeline

    calls = []

    def fake_run(command, env):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ValueError: in a cell")

    monkeypatch.setattr(pipeline.children, "run", fake_run)
    with pytest.raises(RuntimeError, match="in a cell"):
        pipeline.run_papermill(tmp_path / "source.ipynb", tmp_path / "x.ipynb", {})
    assert len(calls) == 1
