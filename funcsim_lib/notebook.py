"""Helpers for the book's notebooks: parameters, opening a study, showing figures.

The notebooks' ``parameters`` cells use the names of the configuration
(``profile``, ``init_seeds``, ``data_seeds``, ``overrides``), so a papermill
run and a library call speak the same vocabulary.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from funcsim_lib.config import Profile, StudyConfig, get_profile, resolve_study
from funcsim_lib.study import Study
from funcsim_lib.training import train_study

# Settings every notebook accepts, with the type papermill must pass.
COMMON_PARAMETERS: dict[str, Any] = {
    "profile": str,
    "init_seeds": list[int] | None,
    "data_seeds": list[int] | None,
    "overrides": dict | None,
    "store_dir": str,
    "workers": int,
}


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value."""


def check_parameter(name: str, value: Any, expected: Any) -> None:
    """Raise ``ParameterError`` unless ``value`` matches type ``expected``."""
    from funcsim_lib.config import coerce, describe

    try:
        coerce(name, expected, value)
    except TypeError:
        raise ParameterError(
            f"parameter {name!r} must be {describe(expected)}, got {value!r} "
            f"({type(value).__name__}). With papermill, pass lists and dicts as "
            f"YAML: -y '{name}: [0, 1, 2, 3]'"
        ) from None


def resolve_parameters(
    profile: str,
    init_seeds: list[int] | None = None,
    data_seeds: list[int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[StudyConfig, Profile]:
    """Return the study configuration and profile that the parameters select."""
    for name, value in (
        ("profile", profile),
        ("init_seeds", init_seeds),
        ("data_seeds", data_seeds),
        ("overrides", overrides),
    ):
        check_parameter(name, value, COMMON_PARAMETERS[name])
    settings = dict(overrides or {})
    if init_seeds is not None:
        settings["init_seeds"] = init_seeds
    if data_seeds is not None:
        settings["data_seeds"] = data_seeds
    try:
        chosen = get_profile(profile)
        return resolve_study(profile, **settings), chosen
    except (TypeError, ValueError) as error:
        raise ParameterError(str(error)) from None


def open_study(
    profile: str = "digits",
    init_seeds: list[int] | None = None,
    data_seeds: list[int] | None = None,
    overrides: dict[str, Any] | None = None,
    store_dir: str = "studies",
    workers: int = 1,
) -> tuple[Study, Profile]:
    """Open the study the parameters describe, training any missing run first."""
    check_parameter("store_dir", store_dir, str)
    check_parameter("workers", workers, int)
    config, chosen = resolve_parameters(profile, init_seeds, data_seeds, overrides)
    train_study(config, store_dir, workers=max(1, workers))
    return Study(config, store_dir), chosen


def quiet_logging() -> None:
    """Keep per-epoch training lines out of the rendered pages."""
    logging.getLogger("funcsim_lib").setLevel(logging.WARNING)


class PlotlyOutput:
    """A Plotly figure for notebooks that renders in JupyterLab and in the book.

    JupyterLab draws the Plotly JSON; the book takes the HTML, which calls
    plotly.js shipped once with the site instead of embedding it per figure.
    """

    def __init__(self, figure: go.Figure) -> None:
        self.figure = figure

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        html = pio.to_html(
            self.figure,
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
        )
        return {
            "application/vnd.plotly.v1+json": json.loads(pio.to_json(self.figure)),
            "text/html": html,
            "text/plain": f"<Figure: {self.figure.layout.title.text or 'untitled'}>",
        }


def show(figure: go.Figure) -> PlotlyOutput:
    """Return ``figure`` wrapped for display; make it a cell's last expression."""
    return PlotlyOutput(figure)


def default_store_dir() -> str:
    """Return ``$FUNCSIM_STORE``, or the ``studies`` folder of this checkout."""
    root = Path(__file__).resolve().parent.parent
    return os.environ.get("FUNCSIM_STORE", str(root / "studies"))
