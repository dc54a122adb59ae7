import json
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest

from funcsim_lib.notebook import (
    COMMON_PARAMETERS,
    ParameterError,
    PlotlyOutput,
    check_parameters,
    check_values,
    landscape_config,
    read_parameters,
    resolve_parameters,
    show,
)

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize(
    "args, message",
    [
        (("mnist",), "unknown profile 'mnist'"),
        (("smoke", "0,1,2"), "parameter 'init_seeds' must be list"),
        (("smoke", [0, "1", 2]), "parameter 'init_seeds' must be list"),
        (("smoke", None, None, {"train.epochs": "2"}), "train.epochs must be int"),
        (("smoke", None, None, "train.epochs=2"), "parameter 'overrides' must be dict"),
    ],
)
def test_bad_parameters_rejected(args, message):
    with pytest.raises(ParameterError, match=message):
        resolve_parameters(*args)


def test_parameters_resolve_to_study():
    study, profile = resolve_parameters(
        "smoke", [4, 5, 6], [7, 8, 9], {"train.epochs": 1}
    )
    assert study.init_seeds == (4, 5, 6)
    assert study.train.epochs == 1
    assert profile.landscape.n_points == (5, 5)


def test_landscape_config_applies_grid_points():
    config = landscape_config("smoke", 7, 3, {"runs": ["base", "siddo_1"]})
    assert config.n_points == (7, 7)
    assert config.direction_seed == 3
    assert config.runs == ("base", "siddo_1")
    assert landscape_config("smoke").n_points == (5, 5)


@pytest.mark.parametrize(
    "args, message",
    [
        (("smoke", 4), r"grid_points = 4 \(both counts of n_points\)"),
        (("smoke", 4), r"so that the trained model \(0, 0\) is a grid point"),
        (("smoke", 4), r"use n_alpha = 3 or 5"),
        (("smoke", 1), r"grid_points = 1 .* fewer than 3"),
        (("smoke", "5"), r"parameter 'grid_points' must be int \| None, got '5'"),
        (("smoke", None, -1), r"direction_seed = -1: .* at least 0"),
        (("smoke", None, 0, {"span": [-1, 2, -1, 1]}), r"landscape_settings = .*span"),
        (("mnist", 5), r"^unknown profile 'mnist'"),
    ],
)
def test_landscape_config_rejects_invalid(args, message):
    with pytest.raises(ParameterError, match=message):
        landscape_config(*args)


def test_show_gives_html_without_plotly_js_and_json():
    bundle = show(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))._repr_mimebundle_()
    assert "Plotly.newPlot" in bundle["text/html"]
    assert len(bundle["text/html"]) < 20_000
    json.dumps(bundle["application/vnd.plotly.v1+json"])


def write_notebook(path, parameters_source: str) -> None:
    cell = nbformat.v4.new_code_cell(parameters_source)
    cell.metadata["tags"] = ["parameters"]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)


def test_read_parameters_types_defaults_help(tmp_path):
    path = tmp_path / "n.ipynb"
    write_notebook(
        path,
        'profile = "digits"  # common: typed from COMMON_PARAMETERS\n'
        "from typing import Optional\n"
        "seeds: Optional[list[int]] = None  # K + 1 seeds\n"
        "other: int | None = None\n"
        "rate: float = 0.5\n"
        "free = 3",
    )
    parameters = read_parameters(path)
    assert list(parameters) == ["profile", "seeds", "other", "rate", "free"]
    assert parameters["other"].type_text == "int | None"
    assert parameters["profile"].type_text == "str"
    assert parameters["seeds"].type_text == "list[int] | None"
    assert parameters["seeds"].help == "K + 1 seeds"
    assert parameters["rate"].default == 0.5
    assert parameters["free"].type_text == "any"


@pytest.mark.parametrize(
    "source, message",
    [
        ("x: os.system = 1", "annotation uses"),
        ("x: Path = 1", "annotation uses"),
        ("x = list(range(3))", "the default must be a literal"),
        ("import os", "expected `name: type = value`"),
    ],
)
def test_read_parameters_rejects(tmp_path, source, message):
    path = tmp_path / "n.ipynb"
    write_notebook(path, source)
    with pytest.raises(ValueError, match=message):
        read_parameters(path)


def test_every_notebook_declares_common_types():
    for path in NOTEBOOKS:
        parameters = read_parameters(path)
        for name, expected in COMMON_PARAMETERS.items():
            assert parameters[name].annotation == expected, (path.name, name)


def test_check_values_reports_every_problem():
    declared = read_parameters(NOTEBOOKS_DIR / "why.ipynb")
    with pytest.raises(ParameterError) as error:
        check_values(declared, {"init_seeds": "0,1,2", "p_tru": 1}, "why")
    message = str(error.value)
    assert (
        "parameter 'init_seeds' must be list[int] | None, got '0,1,2' (str)" in message
    )
    assert "-y 'init_seeds: [0, 1, 2, 3]'" in message
    assert "unknown parameter 'p_tru' for notebook 'why'" in message
    assert check_values(declared, {"runner_up": 0.1}, "why") == {"runner_up": 0.1}


def test_check_parameters_in_namespace():
    namespace = {
        "__annotations__": {"rate": float},
        "profile": "smoke",
        "init_seeds": None,
        "data_seeds": [0, 1],
        "overrides": {"train.epochs": 1},
        "store_dir": "studies",
        "workers": 1,
        "rate": 1,
    }
    assert check_parameters(namespace)["rate"] == 1
    namespace["overrides"] = "train.epochs=1"
    namespace["rate"] = "fast"
    with pytest.raises(ParameterError) as error:
        check_parameters(namespace)
    assert "parameter 'overrides' must be dict | None" in str(error.value)
    assert "{train.epochs: 10}" in str(error.value)
    assert "parameter 'rate' must be float, got 'fast'" in str(error.value)
    del namespace["workers"]
    with pytest.raises(ParameterError, match="'workers' is not set"):
        check_parameters(namespace)


def test_direct_papermill_rejects_text_seeds(tmp_path, monkeypatch, caplog):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from funcsim_lib.pipeline import child_env

    # The kernel imports this checkout's library, as the pipeline's do.
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])
    store = tmp_path / "studies"
    with pytest.raises(PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / "impact.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={
                "profile": "smoke",
                "init_seeds": "0,1,2",
                "store_dir": str(store),
            },
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
        )
    message = str(error.value)
    assert "ParameterError" in message
    assert "parameter 'init_seeds' must be list[int] | None, got '0,1,2'" in message
    assert not store.exists()  # rejected before any training
    # papermill 2.7 reads the annotations of the parameters cell too
    assert "unknown parameter" not in caplog.text


def test_show_with_name_keeps_cell_output():
    figure = go.Figure(go.Bar(x=[1], y=[2]))
    assert isinstance(show(figure, name="fig-x"), PlotlyOutput)
    with pytest.raises(ValueError, match="name must be a non-empty str"):
        show(figure, name=" ")
