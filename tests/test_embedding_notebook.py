"""The qualitative notebook runs on the smoke study and glues every number.

The cells run in this process with ``myst_nb.glue`` recorded, which takes
seconds. The book's pipeline tests execute the notebook in a kernel.
"""

import logging
import re
from pathlib import Path

import myst_nb
import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "qualitative.ipynb"
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")


@pytest.fixture(scope="module")
def executed(smoke_store_root):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    glued = {}
    namespace = {}
    level = logging.getLogger("funcsim_lib").level  # the notebook quiets it
    patch = pytest.MonkeyPatch()
    patch.setattr(
        myst_nb, "glue", lambda name, value, display=True: glued.update({name: value})
    )
    try:
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            exec(compile(cell.source, NOTEBOOK.name, "exec"), namespace)
            if "parameters" in cell.metadata.get("tags", []):
                namespace.update(profile="smoke", store_dir=str(smoke_store_root))
    finally:
        patch.undo()
        logging.getLogger("funcsim_lib").setLevel(level)
    return notebook, glued


def test_every_quoted_number_is_glued(executed):
    notebook, glued = executed
    quoted = {
        key
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for key in GLUE_ROLE.findall(cell.source)
    }
    assert len(quoted) > 30
    assert not quoted - set(glued)


def test_small_study_states_perplexity_used(executed):
    _, glued = executed
    assert "lowered from 30" in glued["fit_tsne"]
    assert glued["n_scenes"] == 1


def test_trend_verdict_is_stated(executed):
    _, glued = executed
    verdict = glued["trend_verdict"]
    assert verdict.startswith("In the function space itself")
    assert "agree" in verdict or "shows this order" in verdict
