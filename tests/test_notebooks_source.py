"""The committed notebooks are sources: parameters first, no outputs."""

from pathlib import Path

import nbformat
import pytest

from funcsim_lib.notebook import COMMON_PARAMETERS

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_with_common_names(path):
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {
        # ``name = value`` or the annotated ``name: type = value``
        line.split("=")[0].split(":")[0].strip()
        for line in tagged[0].source.splitlines()
        if "=" in line
    }
    assert set(COMMON_PARAMETERS) <= names


def test_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"traditional", "qualitative", "quantitative"}
