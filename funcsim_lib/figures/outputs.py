"""Probability vectors of models side by side: the example and the explorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from funcsim_lib.figures.common import apply_layout

# Two models that are not conditions of the study, such as model A and B.
PAIR_COLOURS = ("#1f77b4", "#d95f02")


def _check_vectors(classes: Sequence[str], probabilities: np.ndarray, name: str):
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape[-1] != len(classes):
        raise ValueError(
            f"{name} must have one value per class ({len(classes)}), "
            f"got shape {probabilities.shape}"
        )
    return probabilities


def probability_bars(
    classes: Sequence[str],
    vectors: Mapping[str, np.ndarray],
    colours: Sequence[str] = PAIR_COLOURS,
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """Draw probability vectors as grouped bars, one group per class.

    Parameters
    ----------
    classes
        Class names, ``(n_classes,)``.
    vectors
        Label -> probabilities ``(n_classes,)``.
    colours
        One colour per vector, in order.
    """
    fig = go.Figure()
    for (label, probabilities), colour in zip(vectors.items(), colours):
        probabilities = _check_vectors(classes, probabilities, f"vectors[{label!r}]")
        fig.add_trace(
            go.Bar(
                x=list(classes),
                y=probabilities,
                name=label,
                marker_color=colour,
                hovertemplate="class %{x}: %{y:.3f}<extra>" + label + "</extra>",
            )
        )
    fig.update_layout(barmode="group", yaxis_title="probability")
    fig.update_xaxes(title_text="class", type="category")
    fig.update_yaxes(rangemode="tozero")
    return apply_layout(fig, title, height)


def probability_slider(
    classes: Sequence[str],
    fixed: tuple[str, np.ndarray],
    moving: tuple[str, np.ndarray],
    step_labels: Sequence[str],
    notes: Sequence[str],
    active: int = 0,
    colours: Sequence[str] = PAIR_COLOURS,
    title: str | None = None,
    height: int = 540,
) -> go.Figure:
    """Draw two probability vectors, one of them moved by a slider.

    Every step is drawn in advance, so the slider works in a static page.

    Parameters
    ----------
    classes
        Class names, ``(n_classes,)``.
    fixed
        Label and probabilities ``(n_classes,)`` of the model that stays.
    moving
        Label and probabilities ``(n_steps, n_classes)``, one row per step.
    step_labels
        Text under each slider step, ``(n_steps,)``.
    notes
        Text shown above the bars at each step, such as the measures.
    active
        The step shown first.
    """
    fixed_label, fixed_p = fixed
    moving_label, moving_p = moving
    fixed_p = _check_vectors(classes, fixed_p, "fixed probabilities")
    moving_p = _check_vectors(classes, moving_p, "moving probabilities")
    n_steps = len(moving_p)
    if moving_p.ndim != 2 or len(step_labels) != n_steps or len(notes) != n_steps:
        raise ValueError(
            "moving probabilities must be (n_steps, n_classes) with one step "
            f"label and one note per step, got shape {moving_p.shape}, "
            f"{len(step_labels)} labels and {len(notes)} notes"
        )
    if not 0 <= active < n_steps:
        raise ValueError(f"active must be in [0, {n_steps}), got {active}")
    fig = probability_bars(
        classes,
        {fixed_label: fixed_p, moving_label: moving_p[active]},
        colours,
        title,
        height,
    )
    fig.update_yaxes(range=[0, 1.05 * max(fixed_p.max(), moving_p.max())])

    def note(text: str) -> dict:
        # Above the plot area, where no bar can reach it.
        return dict(
            text=text,
            xref="paper",
            yref="paper",
            x=1.0,
            y=1.02,
            xanchor="right",
            yanchor="bottom",
            align="right",
            showarrow=False,
        )

    fig.update_layout(annotations=[note(notes[active])])
    steps = [
        dict(
            method="update",
            label=step_labels[i],
            args=[{"y": [fixed_p, moving_p[i]]}, {"annotations": [note(notes[i])]}],
        )
        for i in range(n_steps)
    ]
    fig.update_layout(
        sliders=[
            dict(
                active=active,
                steps=steps,
                pad=dict(t=60),
                currentvalue=dict(prefix=f"{moving_label}: ", font=dict(size=13)),
            )
        ],
        margin=dict(t=130 if title is None else 170, b=150),
        legend=dict(orientation="h", y=1.02, x=0.0, xanchor="left", yanchor="bottom"),
    )
    return fig


def _display_image(image: np.ndarray) -> np.ndarray:
    """Return ``(channels, height, width)`` rescaled to 0..255 for display."""
    image = np.asarray(image, dtype=float)
    low, high = image.min(), image.max()
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return np.round(255 * scaled)


def output_pair(
    image: np.ndarray,
    classes: Sequence[str],
    vectors: Mapping[str, np.ndarray],
    true_class: str,
    colours: Sequence[str] = PAIR_COLOURS,
    title: str | None = None,
    height: int = 360,
) -> go.Figure:
    """Draw one test input beside two models' probability vectors for it.

    Parameters
    ----------
    image
        The input, ``(channels, height, width)`` with 1 or 3 channels, in any
        range: it is rescaled for display.
    classes
        Class names, ``(n_classes,)``.
    vectors
        Exactly two entries: label -> probabilities ``(n_classes,)``.
    true_class
        The input's label, for the image's title.
    """
    if len(vectors) != 2:
        raise ValueError(f"vectors must have 2 entries, got {len(vectors)}")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(
            f"image must be (channels, height, width) with 1 or 3 channels, "
            f"got shape {image.shape}"
        )
    labels = list(vectors)
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.22, 0.39, 0.39],
        horizontal_spacing=0.06,
        subplot_titles=[f"input (label {true_class})", *labels],
    )
    pixels = _display_image(image)
    if pixels.shape[0] == 1:
        fig.add_trace(
            go.Heatmap(z=pixels[0], colorscale="Greys", showscale=False), 1, 1
        )
        fig.update_yaxes(autorange="reversed", row=1, col=1)
    else:
        fig.add_trace(go.Image(z=np.moveaxis(pixels, 0, -1)), 1, 1)
    fig.update_xaxes(visible=False, row=1, col=1)
    fig.update_yaxes(visible=False, scaleanchor="x", row=1, col=1)
    top = max(float(np.max(v)) for v in vectors.values())
    for col, (label, colour) in enumerate(zip(labels, colours), start=2):
        probabilities = _check_vectors(classes, vectors[label], f"vectors[{label!r}]")
        fig.add_trace(
            go.Bar(
                x=list(classes),
                y=probabilities,
                marker_color=colour,
                name=label,
                showlegend=False,
                hovertemplate="class %{x}: %{y:.3f}<extra></extra>",
            ),
            1,
            col,
        )
        fig.update_xaxes(type="category", title_text="class", row=1, col=col)
        fig.update_yaxes(range=[0, 1.05 * top], row=1, col=col)
    fig.update_yaxes(title_text="probability", row=1, col=2)
    return apply_layout(fig, title, height)
