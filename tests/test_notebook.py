import json

import plotly.graph_objects as go
import pytest

from funcsim_lib.notebook import ParameterError, resolve_parameters, show


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


def test_show_gives_html_without_plotly_js_and_json():
    bundle = show(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))._repr_mimebundle_()
    assert "Plotly.newPlot" in bundle["text/html"]
    assert len(bundle["text/html"]) < 20_000
    json.dumps(bundle["application/vnd.plotly.v1+json"])
