"""Loss landscapes after Li et al. (2018), "Visualizing the Loss Landscape of
Neural Nets": test loss and test error on planes and lines in parameter space.

- ``directions``: filter-normalised Gaussian directions and their fingerprints;
- ``grid``: grid coordinates and the distance between two landscapes;
- ``plane``: the points of a plane and the scores of their logits;
- ``evaluate``: loss and error at points, through the model's own forward or
  the batched ViT forward of ``vit`` (``vit_support`` says which models it
  takes, ``ops`` holds its operations);
- ``jobs``: the three kinds of grid of a study (random plane, line between two
  runs, plane through three runs) and the test images they use;
- ``stored``: computing them into the run store, resumable, with ``tasks``
  sharing the rows among processes or ``torchrun`` ranks.
"""

from funcsim_lib.landscape.directions import (
    EMBED_POLICIES,
    TOKEN_PARAMETERS,
    direction_cosine,
    normalise_filters,
    random_directions,
    tensors_fingerprint,
)
from funcsim_lib.landscape.evaluate import (
    ModuleEvaluator,
    evaluate_grid,
    evaluate_plane,
    evaluate_points,
    make_evaluator,
)
from funcsim_lib.landscape.grid import Grid, landscape_distance
from funcsim_lib.landscape.jobs import (
    Interpolation,
    ModelPlane,
    RandomPlane,
    evaluation_inputs,
    section_jobs,
)
from funcsim_lib.landscape.plane import Plane
from funcsim_lib.landscape.stored import (
    compute_landscapes,
    compute_section,
    compute_surfaces,
)
from funcsim_lib.landscape.vit import VitEvaluator
from funcsim_lib.landscape.vit_support import unsupported_reason

__all__ = [
    "EMBED_POLICIES",
    "TOKEN_PARAMETERS",
    "Grid",
    "Interpolation",
    "ModelPlane",
    "ModuleEvaluator",
    "Plane",
    "RandomPlane",
    "VitEvaluator",
    "compute_landscapes",
    "compute_section",
    "compute_surfaces",
    "direction_cosine",
    "evaluate_grid",
    "evaluate_plane",
    "evaluate_points",
    "evaluation_inputs",
    "landscape_distance",
    "make_evaluator",
    "normalise_filters",
    "random_directions",
    "section_jobs",
    "tensors_fingerprint",
    "unsupported_reason",
]
