"""Tables of numbers drawn as Plotly figures, so they render like the plots."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from funcsim_lib.figures.common import FONT, apply_layout


def value_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
    row_height: int = 28,
) -> go.Figure:
    """Draw ``rows`` of already formatted cells under ``header``, one row per entry."""
    width = len(header)
    if any(len(row) != width for row in rows):
        raise ValueError(
            f"every row must have {width} cells like the header, got lengths "
            f"{sorted({len(row) for row in rows})}"
        )
    columns = [[row[k] for row in rows] for k in range(width)]
    table = go.Table(
        header=dict(values=list(header), align="left", font=dict(FONT, size=13)),
        cells=dict(values=columns, align="left", height=row_height, font=FONT),
    )
    fig = go.Figure(table)
    height = 90 + row_height * (len(rows) + 1) + (40 if title else 0)
    fig = apply_layout(fig, title, height)
    fig.update_layout(margin=dict(l=10, r=10, t=50 if title else 10, b=10))
    return fig
