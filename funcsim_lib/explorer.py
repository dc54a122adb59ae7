"""Two models' outputs on single inputs: an example pair, the measures, an explorer.

``equal_loss_pair`` builds the book's opening example, two probability vectors
with the same prediction and the same loss. ``compare_outputs`` computes every
measure of ``funcsim_lib.measures`` between two models' outputs. ``Explorer``
is an ipywidgets explorer for JupyterLab: pick two runs of a study, an epoch
and a test input, and it draws the input beside both models' probability
vectors and tabulates the measures for that input, updated on every change.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from scipy.special import log_softmax

from funcsim_lib import measures
from funcsim_lib.figures.outputs import output_pair

if TYPE_CHECKING:
    from funcsim_lib.study import Study

# name -> (function of two logit arrays, what a larger value means)
MEASURES: dict[str, tuple[Callable[..., np.ndarray], str]] = {
    "disagreement": (measures.disagreement, "less similar"),
    "activation distance": (measures.activation_distance, "less similar"),
    "cosine similarity": (measures.cosine_similarity, "more similar"),
    "JS divergence (nats)": (measures.js_divergence, "less similar"),
}


def compare_outputs(logits_a: np.ndarray, logits_b: np.ndarray) -> dict[str, float]:
    """Return every measure of ``MEASURES`` between two models' outputs.

    Parameters
    ----------
    logits_a, logits_b
        Logits ``(n_samples, n_classes)`` of the two models on the same
        inputs; ``log(p)`` of probabilities ``p`` works too.

    Returns
    -------
    Measure name -> value averaged over the samples.

    >>> p = np.log([[0.32, 0.68]])
    >>> compare_outputs(p, p)["JS divergence (nats)"]
    0.0
    """
    return {
        name: float(function(logits_a, logits_b))
        for name, (function, _) in MEASURES.items()
    }


def equal_loss_pair(
    p_true: float,
    runner_up: float,
    n_classes: int = 10,
    true_class: int = 3,
    other_class: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Return two probability vectors with the same prediction and loss.

    Both give ``p_true`` to ``true_class``, so both predict it and both have
    cross-entropy loss ``-ln p_true``. Model A shares the rest evenly among the
    other classes. Model B gives ``runner_up`` to ``other_class`` and shares
    what is left evenly among the remaining classes.

    Returns
    -------
    ``(p_a, p_b)``, each ``(n_classes,)``.

    Raises
    ------
    ValueError
        If ``true_class`` would not be the unique prediction of both models.

    >>> p_a, p_b = equal_loss_pair(0.32, 0.30)
    >>> float(p_b[8]), round(float(p_a[0]), 4), round(float(p_b[0]), 4)
    (0.3, 0.0756, 0.0475)
    """
    if not isinstance(n_classes, int) or n_classes < 3:
        raise ValueError(f"n_classes must be an int of at least 3, got {n_classes!r}")
    for name, index in (("true_class", true_class), ("other_class", other_class)):
        if not 0 <= index < n_classes:
            raise ValueError(f"{name} must be in [0, {n_classes}), got {index!r}")
    if true_class == other_class:
        raise ValueError(f"other_class must differ from true_class ({true_class})")
    if not 1.0 / n_classes < p_true < 1.0:
        raise ValueError(
            f"p_true must be in (1/{n_classes}, 1) so that it is the prediction, "
            f"got {p_true!r}"
        )
    rest = (1.0 - p_true - runner_up) / (n_classes - 2)
    if not (0.0 <= runner_up < p_true and 0.0 <= rest < p_true):
        raise ValueError(
            f"runner_up must be in [0, p_true) and at most 1 - p_true, so that "
            f"class {true_class} stays the prediction, got {runner_up!r} with "
            f"p_true {p_true!r}"
        )
    p_a = np.full(n_classes, (1.0 - p_true) / (n_classes - 1))
    p_a[true_class] = p_true
    p_b = np.full(n_classes, rest)
    p_b[true_class] = p_true
    p_b[other_class] = runner_up
    return p_a, p_b


def measures_table(values: Mapping[str, float]) -> str:
    """Return measure values as an HTML table, with what a larger value means."""
    cell = "style='padding:2px 10px'"
    rows = "".join(
        f"<tr><td {cell}>{html.escape(name)}</td>"
        f"<td {cell} align='right'>{value:.4f}</td>"
        f"<td {cell}>larger is {MEASURES[name][1]}</td></tr>"
        for name, value in values.items()
    )
    return f"<table class='funcsim-measures'>{rows}</table>"


class Explorer:
    """Widgets that compare two runs of ``study`` on one test input.

    The controls are ``run_a``, ``run_b``, ``epoch`` and ``sample``. The
    outputs are ``figure``, a Plotly figure redrawn into the ``plot`` widget,
    ``table``, an HTML widget of the measures, and ``values``, the same
    numbers as a dict. Show ``explorer.widget`` as a cell's last expression.
    """

    def __init__(self, study: Study, run_a: str = "base", run_b: str | None = None):
        import ipywidgets as widgets

        names = [run.name for run in study.runs]
        for label, name in (("run_a", run_a), ("run_b", run_b)):
            if name is not None and name not in names:
                raise ValueError(
                    f"{label} must be a run of the study ({', '.join(names)}), "
                    f"got {name!r}"
                )
        self.study = study
        self.logits = {name: study.logits(name) for name in names}
        self.labels = study.test_labels()
        self.classes = study.data.classes
        self.images = study.data.test_x.numpy()
        n_epochs, n_test, _ = self.logits[names[0]].shape

        self.run_a = widgets.Dropdown(options=names, value=run_a, description="run A")
        default_b = run_b or next(n for n in names if n != run_a)
        self.run_b = widgets.Dropdown(
            options=names, value=default_b, description="run B"
        )
        self.epoch = widgets.IntSlider(
            value=n_epochs - 1, min=0, max=n_epochs - 1, description="epoch"
        )
        self.sample = widgets.IntSlider(
            value=0, min=0, max=n_test - 1, description="test input"
        )
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        # A FigureWidget is updated in place. An Output widget redrawn on
        # every change also works in JupyterLab, but under nbclient (papermill)
        # its clear_output and display messages could leave a cell waiting.
        self.plot = go.FigureWidget()
        self.figure: go.Figure | None = None
        self.values: dict[str, float] = {}
        for control in (self.run_a, self.run_b, self.epoch, self.sample):
            control.observe(self._changed, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.run_a, self.run_b]),
                widgets.HBox([self.epoch, self.sample]),
                self.plot,
                widgets.HBox([self.summary, self.table]),
            ]
        )
        self.update()

    def _changed(self, change: dict) -> None:
        self.update()

    def selected_logits(self) -> tuple[np.ndarray, np.ndarray]:
        """Return both runs' logits ``(1, n_classes)`` for the chosen input."""
        epoch, sample = self.epoch.value, self.sample.value
        a = self.logits[self.run_a.value][epoch, sample : sample + 1]
        b = self.logits[self.run_b.value][epoch, sample : sample + 1]
        return a, b

    def update(self) -> None:
        """Recompute the figure, the measures and the summary for the controls."""
        a, b = self.selected_logits()
        p_a, p_b = measures.softmax(a)[0], measures.softmax(b)[0]
        target = int(self.labels[self.sample.value])
        label = self.classes[target]
        name_a, name_b = self.run_a.value, self.run_b.value
        self.figure = output_pair(
            self.images[self.sample.value],
            self.classes,
            {f"A: {name_a}": p_a, f"B: {name_b}": p_b},
            label,
            title=f"epoch {self.epoch.value}, test input {self.sample.value}",
        )
        self.values = compare_outputs(a, b)
        self.table.value = measures_table(self.values)
        lines = []
        for name, logits in ((name_a, a), (name_b, b)):
            log_p = log_softmax(logits[0].astype(np.float64))
            predicted = int(log_p.argmax())
            lines.append(
                f"{html.escape(name)} predicts {html.escape(self.classes[predicted])} "
                f"(p = {np.exp(log_p[predicted]):.3f}); loss on label "
                f"{html.escape(label)}: {-log_p[target]:.3f}"
            )
        self.summary.value = "<p>" + "<br>".join(lines) + "</p>"
        with self.plot.batch_update():
            self.plot.data = []
            self.plot.add_traces(list(self.figure.data))
            self.plot.layout = self.figure.layout
