"""Plotly figure builders: arrays in, figures out; no computing, no loading.

One module per kind of figure; the names below are the public ones.
"""

from funcsim_lib.figures.common import CONDITION_COLOURS, FONT, apply_layout
from funcsim_lib.figures.curves import curves_with_bands, measures_panel
from funcsim_lib.figures.landscape import landscape_contours
from funcsim_lib.figures.trajectory import trajectory_figure

__all__ = [
    "CONDITION_COLOURS",
    "FONT",
    "apply_layout",
    "curves_with_bands",
    "landscape_contours",
    "measures_panel",
    "trajectory_figure",
]
