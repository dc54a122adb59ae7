"""Helpers for the book's notebooks: parameters, opening a study, showing figures.

The notebooks' ``parameters`` cells use the names of the configuration
(``profile``, ``init_seeds``, ``data_seeds``, ``overrides``), so a papermill
run and a library call speak the same vocabulary. Each parameter is an
annotated assignment, ``workers: int = 1  # help``, so that its type is
declared once. It is checked in two places: by ``check_values`` before a run
starts (the command line and the pipeline), and by ``check_parameters`` in the
notebook's first cell (a direct papermill call). Optional values are written
``Optional[list[int]]`` after ``from typing import Optional`` in that cell,
because papermill 2.7 does not parse ``list[int] | None`` as an annotation and
would report such a parameter as unknown.

This module imports neither torch nor nbformat at import time, so a notebook
that only draws figures starts quickly.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import logging
import os
import tokenize
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.io as pio

from funcsim_lib.config import (
    EmbeddingConfig,
    LandscapeConfig,
    Profile,
    StudyConfig,
    coerce,
    get_profile,
    replace_fields,
    resolve_study,
)

if TYPE_CHECKING:
    from funcsim_lib.study import Study

# Settings every notebook accepts, with the type papermill must pass.
COMMON_PARAMETERS: dict[str, Any] = {
    "profile": str,
    "init_seeds": list[int] | None,
    "data_seeds": list[int] | None,
    "overrides": dict | None,
    "store_dir": str,
    "workers": int,
}

# The names an annotation in a parameters cell may use.
ANNOTATION_NAMES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "None": None,
    "Optional": typing.Optional,
}

# A YAML value of each kind, for the hint in a type error.
YAML_EXAMPLES = {list: "[0, 1, 2, 3]", dict: "{train.epochs: 10}"}


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value."""


@dataclass(frozen=True)
class Parameter:
    """One assignment of a notebook's ``parameters`` cell."""

    name: str
    annotation: Any  # a type such as ``list[int] | None``; None if not declared
    default: Any
    help: str

    @property
    def type_text(self) -> str:
        """The declared type as a reader writes it, or ``any``."""
        return "any" if self.annotation is None else describe_type(self.annotation)


def _options(hint: Any) -> tuple[Any, ...]:
    """Return the members of a union type, or ``(hint,)`` for any other type."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def describe_type(hint: Any) -> str:
    """Return a type as a reader writes it: ``Optional[list[int]]`` gives
    ``list[int] | None``.

    >>> describe_type(typing.Optional[dict])
    'dict | None'
    """
    options = _options(hint)
    if len(options) > 1:
        return " | ".join(describe_type(option) for option in options)
    if hint is None or hint is type(None):
        return "None"
    args = typing.get_args(hint)
    if args:
        inner = ", ".join(describe_type(arg) for arg in args)
        return f"{typing.get_origin(hint).__name__}[{inner}]"
    return getattr(hint, "__name__", str(hint))


def _kinds(hint: Any) -> set[Any]:
    """Return the plain types a hint accepts: ``list[int] | None`` gives list, None."""
    return {typing.get_origin(option) or option for option in _options(hint)}


def _yaml_hint(name: str, expected: Any, value: Any) -> str:
    """Return how to pass ``name`` through papermill, if text was received."""
    containers = [kind for kind in (list, dict) if kind in _kinds(expected)]
    if not isinstance(value, str) or not containers:
        return ""
    return (
        ". papermill's -p passes this as text; pass lists and dicts as YAML "
        f"instead: -y '{name}: {YAML_EXAMPLES[containers[0]]}'"
    )


def check_parameter(name: str, value: Any, expected: Any) -> Any:
    """Return ``value`` checked against type ``expected``.

    Raises
    ------
    ParameterError
        If ``value`` does not match; the message names the parameter, the
        expected type and the value received.
    """
    try:
        return coerce(name, expected, value)
    except TypeError:
        raise ParameterError(
            f"parameter {name!r} must be {describe_type(expected)}, got {value!r} "
            f"({type(value).__name__}){_yaml_hint(name, expected, value)}"
        ) from None


def check_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Check a running notebook's parameters against its parameters cell.

    Call it first thing after the parameters cell, as
    ``nb.check_parameters(globals())``: the annotated assignments of that cell
    are in ``__annotations__``, and papermill's injected cell has overwritten
    the values, so every wrongly typed value is reported before any work.

    Parameters
    ----------
    namespace
        The notebook's global names.

    Returns
    -------
    The parameters by name, lists already checked element by element.

    Raises
    ------
    ParameterError
        Listing every parameter that is missing or of the wrong type.
    """
    declared = {**COMMON_PARAMETERS, **namespace.get("__annotations__", {})}
    errors = []
    values = {}
    for name, expected in declared.items():
        if name not in namespace:
            errors.append(f"parameter {name!r} is not set by the parameters cell")
            continue
        try:
            check_parameter(name, namespace[name], expected)
        except ParameterError as error:
            errors.append(str(error))
        values[name] = namespace[name]
    if errors:
        raise ParameterError("; ".join(errors))
    return values


def _line_comments(source: str) -> dict[int, str]:
    comments = {}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    return comments


# Annotations are evaluated from these node types and ANNOTATION_NAMES only.
ANNOTATION_NODES = (
    ast.Name,
    ast.Subscript,
    ast.BinOp,
    ast.BitOr,
    ast.Tuple,
    ast.Constant,
    ast.Load,
)


def _evaluate_annotation(node: ast.expr, where: str) -> Any:
    other = {type(n).__name__ for n in ast.walk(node)} - {
        t.__name__ for t in ANNOTATION_NODES
    }
    if other:
        raise ValueError(f"{where}: annotation uses {sorted(other)}; expected a type")
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    unknown = names - set(ANNOTATION_NAMES)
    if unknown:
        raise ValueError(
            f"{where}: annotation uses {sorted(unknown)}; expected only "
            f"{sorted(ANNOTATION_NAMES)}"
        )
    code = compile(ast.Expression(node), where, "eval")
    return eval(code, {"__builtins__": {}}, ANNOTATION_NAMES)  # noqa: S307


def _imports_typing_names(statement: ast.stmt) -> bool:
    """Return whether ``statement`` is ``from typing import Optional``."""
    return (
        isinstance(statement, ast.ImportFrom)
        and statement.module == "typing"
        and all(alias.name in ANNOTATION_NAMES for alias in statement.names)
    )


def read_parameters(path: str | os.PathLike) -> dict[str, Parameter]:
    """Read the parameters cell of the notebook at ``path``.

    Returns
    -------
    The parameters in the cell's order. A common parameter without an
    annotation gets its type from ``COMMON_PARAMETERS``; any other one has no
    declared type (``annotation`` None).

    Raises
    ------
    ValueError
        If the notebook does not have exactly one cell tagged ``parameters``,
        or that cell contains anything but ``from typing import Optional``
        and assignments of literal values.
    """
    # nbformat's import takes seconds (its JSON schema checks), and a running
    # notebook never needs it.
    import nbformat

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(
            f"{path.name} must have exactly one cell tagged 'parameters', "
            f"found {len(cells)}"
        )
    source = cells[0].source
    comments = _line_comments(source)
    parameters = {}
    for statement in ast.parse(source).body:
        where = f"{path.name}, parameters cell, line {statement.lineno}"
        if _imports_typing_names(statement):
            continue
        if isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target = statement.target
            annotation = _evaluate_annotation(statement.annotation, where)
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            annotation = None
        else:
            raise ValueError(f"{where}: expected `name: type = value`")
        if not isinstance(target, ast.Name):
            raise ValueError(f"{where}: expected a plain name on the left")
        try:
            default = ast.literal_eval(statement.value)
        except ValueError:
            raise ValueError(f"{where}: the default must be a literal") from None
        if annotation is None:
            annotation = COMMON_PARAMETERS.get(target.id)
        parameters[target.id] = Parameter(
            target.id, annotation, default, comments.get(statement.lineno, "")
        )
    return parameters


def check_values(
    parameters: Mapping[str, Parameter], values: Mapping[str, Any], notebook: str
) -> dict[str, Any]:
    """Check values meant for a notebook before it runs.

    Parameters
    ----------
    parameters
        The notebook's parameters, from ``read_parameters``.
    values
        Values by name, as papermill would inject them.
    notebook
        The notebook's name, for messages.

    Returns
    -------
    ``values``, each checked against its parameter's declared type.

    Raises
    ------
    ParameterError
        Listing every unknown name and every value of the wrong type.
    """
    errors = []
    for name, value in values.items():
        if name not in parameters:
            errors.append(
                f"unknown parameter {name!r} for notebook {notebook!r}; expected "
                f"one of: {', '.join(parameters)}"
            )
            continue
        expected = parameters[name].annotation
        if expected is None:
            continue
        try:
            check_parameter(name, value, expected)
        except ParameterError as error:
            errors.append(str(error))
    if errors:
        raise ParameterError("; ".join(errors))
    check_notebook_values(parameters, values, notebook)
    return dict(values)


def check_notebook_values(
    parameters: Mapping[str, Parameter], values: Mapping[str, Any], notebook: str
) -> None:
    """Check the values of a notebook's own parameters before it runs.

    Each check builds from the values what the notebook builds from them
    (the same library calls), so a value the notebook would reject after
    opening the study is rejected here, before any work.

    Raises
    ------
    ParameterError
        Naming the notebook, the parameters involved and what is wrong.
    """
    merged = {name: p.default for name, p in parameters.items()} | dict(values)
    workers = merged.get("workers", 1)
    if workers < 1:
        raise ParameterError(f"workers must be at least 1, got {workers}")
    check = NOTEBOOK_CHECKS.get(notebook)
    if check is None:
        return
    involved, function = check
    config, _ = resolve_parameters(
        merged["profile"],
        merged.get("init_seeds"),
        merged.get("data_seeds"),
        merged.get("overrides"),
    )
    try:
        function(merged, config)
    except ParameterError:
        raise
    except (TypeError, ValueError) as error:
        named = ", ".join(f"{name}={merged[name]!r}" for name in involved)
        raise ParameterError(f"notebook {notebook!r} with {named}: {error}") from None


def embedding_config(profile: str, n_inputs: int | None) -> EmbeddingConfig:
    """Return the qualitative section's embedding settings for ``profile``."""
    embedding = get_profile(profile).embedding
    if n_inputs is None:
        return embedding
    return dataclasses.replace(embedding, n_inputs=n_inputs)


def _check_runs(values: Mapping[str, Any], config: StudyConfig) -> None:
    from funcsim_lib.training import study_runs

    names = [run.name for run in study_runs(config)]
    for key in ("run_a", "run_b"):
        if values[key] not in names:
            raise ValueError(
                f"{key} must be a run of the study ({', '.join(names)}), "
                f"got {values[key]!r}"
            )


def _check_intervals(values: Mapping[str, Any], _: StudyConfig) -> None:
    from funcsim_lib.measures.summary import check_interval_settings

    check_interval_settings(
        values["confidence"], values["n_resamples"], values["bootstrap_seed"]
    )


def _check_equal_loss_pair(values: Mapping[str, Any], _: StudyConfig) -> None:
    from funcsim_lib.explorer import equal_loss_pair

    equal_loss_pair(values["p_true"], values["runner_up"])


def _check_landscape(values: Mapping[str, Any], _: StudyConfig) -> None:
    landscape_config(
        values["profile"],
        values["grid_points"],
        values["direction_seed"],
        values["landscape_settings"],
    )


def _check_embedding(values: Mapping[str, Any], _: StudyConfig) -> None:
    embedding_config(values["profile"], values["n_inputs"])


# Notebook -> (the parameters a check reads, the check). Each check takes the
# notebook's values and the study configuration they select.
NOTEBOOK_CHECKS = {
    "traditional": (
        ("grid_points", "direction_seed", "landscape_settings"),
        _check_landscape,
    ),
    "qualitative": (("n_inputs",), _check_embedding),
    "quantitative": (("confidence", "n_resamples", "bootstrap_seed"), _check_intervals),
    "why": (("p_true", "runner_up"), _check_equal_loss_pair),
    "explorer": (("run_a", "run_b"), _check_runs),
}


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


def landscape_config(
    profile: str,
    grid_points: int | None = None,
    direction_seed: int = 0,
    landscape_settings: dict[str, Any] | None = None,
) -> LandscapeConfig:
    """Return the profile's landscape settings with the traditional notebook's
    parameters applied.

    ``grid_points`` sets both counts of ``n_points``. Call it before
    ``open_study``, so that an invalid grid is reported before any training.

    Raises
    ------
    ParameterError
        If a parameter has the wrong type, or the settings they give are
        invalid; the message names the parameters and the setting.
    """
    check_parameter("grid_points", grid_points, int | None)
    check_parameter("direction_seed", direction_seed, int)
    check_parameter("landscape_settings", landscape_settings, dict | None)
    try:
        base = get_profile(profile).landscape
    except ValueError as error:
        raise ParameterError(str(error)) from None
    settings = dict(landscape_settings or {}, direction_seed=direction_seed)
    described = [f"direction_seed = {direction_seed!r}"]
    if grid_points is not None:
        settings["n_points"] = [grid_points, grid_points]
        described.insert(0, f"grid_points = {grid_points!r} (both counts of n_points)")
    if landscape_settings:
        described.append(f"landscape_settings = {landscape_settings!r}")
    try:
        return replace_fields(base, settings)
    except (TypeError, ValueError) as error:
        raise ParameterError(
            f"invalid landscape parameters {', '.join(described)}: {error}"
        ) from None


def open_study(
    profile: str = "digits",
    init_seeds: list[int] | None = None,
    data_seeds: list[int] | None = None,
    overrides: dict[str, Any] | None = None,
    store_dir: str = "studies",
    workers: int = 1,
) -> tuple[Study, Profile]:
    """Open the study the parameters describe, training any missing run first."""
    from funcsim_lib.study import Study
    from funcsim_lib.training import train_study

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

    def __init__(self, figure: go.Figure, with_json: bool = True) -> None:
        self.figure = figure
        self.with_json = with_json

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        html = pio.to_html(
            self.figure,
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
        )
        bundle = {
            "text/html": html,
            "text/plain": f"<Figure: {self.figure.layout.title.text or 'untitled'}>",
        }
        if self.with_json:
            bundle["application/vnd.plotly.v1+json"] = json.loads(
                pio.to_json(self.figure)
            )
        return bundle


def show(figure: go.Figure, name: str | None = None) -> PlotlyOutput:
    """Return ``figure`` wrapped for display; make it a cell's last expression.

    Parameters
    ----------
    figure
        The figure to show.
    name
        If given, the figure is also glued under this name, for a numbered
        figure with a caption on the page::

            ```{glue:figure} fig-loss
            :name: fig-loss
            :figclass: full-width

            Caption text, which may hold {glue:text}`numbers`.
            ```

        Tag the showing cell ``remove-cell`` then, so that the page shows the
        figure once, where the directive is, while JupyterLab still shows it
        under the cell. ``:figclass: full-width`` makes a wide figure.
    """
    if name is not None:
        from myst_nb import glue

        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        # The page needs only the HTML; the JSON stays in the cell's own output.
        glue(name, PlotlyOutput(figure, with_json=False), display=False)
    return PlotlyOutput(figure)


def default_store_dir() -> str:
    """Return ``$FUNCSIM_STORE``, or the ``studies`` folder of this checkout."""
    root = Path(__file__).resolve().parent.parent
    return os.environ.get("FUNCSIM_STORE", str(root / "studies"))
