"""Shared look of every figure: colours by condition, font, layout."""

from __future__ import annotations

import plotly.graph_objects as go

CONDITION_COLOURS = {
    "base": "#222222",
    "siddo": "#1f77b4",
    "disdo": "#d62728",
    "replica": "#7f7f7f",
}
FONT = dict(family="Georgia, 'Times New Roman', serif", size=13)


def apply_layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        font=FONT,
        template="plotly_white",
        margin=dict(l=60, r=30, t=70 if title else 30, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="center", x=0.5),
    )
    return fig
