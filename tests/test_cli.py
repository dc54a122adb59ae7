"""The command line: listing parameters, rerunning one notebook, rejecting values."""

from pathlib import Path

import nbformat
import pytest

from funcsim_lib.cli import main, parameters_text

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))


def test_params_lists_types_and_defaults(capsys):
    assert main(["params", "why"]) == 0
    out = capsys.readouterr().out
    assert "init_seeds      list[int] | None  None" in out
    assert "p_true          float             0.32" in out


def test_readme_lists_every_notebooks_parameters():
    readme = (REPO / "README.md").read_text()
    for name in NOTEBOOKS:
        table = parameters_text([name], markdown=True)
        assert table in readme, (
            f"README.md lacks the parameters of {name}; paste the output of "
            f"`funcsim params --markdown {name}`"
        )


@pytest.mark.parametrize(
    "args, message",
    [
        (["notebook", "nope"], "unknown notebook 'nope'"),
        (["notebook", "why", "-p", "p_tru", "0.3"], "unknown parameter 'p_tru'"),
        (
            ["notebook", "why", "-p", "p_true", "high"],
            "parameter 'p_true' must be float",
        ),
        (["notebook", "why", "-p", "profile", "smoke"], "use the option --profile"),
        (["notebook", "why", "--profile", "mnist"], "invalid choice: 'mnist'"),
        (["notebook", "why", "--set", "train.epochs=x"], "train.epochs must be int"),
        (["params", "nope"], "unknown notebook 'nope'"),
        (["notebook", "../x"], "expected one of: colophon, explorer"),
        (
            ["notebook", "traditional", "--profile", "smoke", "-p", "grid_points", "0"],
            "invalid landscape parameters grid_points = 0",
        ),
        (
            ["notebook", "qualitative", "--profile", "smoke", "-p", "n_inputs", "0"],
            "embedding.n_inputs must be at least 1",
        ),
        (
            ["notebook", "quantitative", "-p", "n_resamples", "5"],
            "n_resamples must be at least 100, got 5",
        ),
        (
            ["notebook", "quantitative", "-p", "bootstrap_seed", "-1"],
            "seed must be a non-negative int, got -1",
        ),
        (["notebook", "why", "-p", "p_true", "1.5"], "with p_true=1.5"),
        (
            ["notebook", "explorer", "--profile", "smoke", "-p", "run_a", "nope"],
            "run_a must be a run of the study (base, siddo_1",
        ),
    ],
)
def test_notebook_rejects_before_running(args, message, capsys, tmp_path):
    try:
        status = main(
            [*args, "--store", str(tmp_path)] if args[0] == "notebook" else args
        )
    except SystemExit as exit:  # argparse's own rejections
        status = exit.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_notebook_reruns_explorer(tmp_path, capsys, smoke_store_root):
    output = tmp_path / "explorer.ipynb"
    status = main(
        [
            "-q",
            "notebook",
            "explorer",
            "--profile",
            "smoke",
            "--store",
            str(smoke_store_root),
            "-p",
            "run_b",
            "disdo_2",
            "--output",
            str(output),
        ]
    )
    assert status == 0, capsys.readouterr().err
    notebook = nbformat.read(output, as_version=4)
    assert notebook.metadata.papermill.parameters["run_b"] == "disdo_2"
    data = [o.get("data", {}) for c in notebook.cells for o in c.get("outputs", [])]
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data)
    values = next(d["text/plain"] for d in data if "JS divergence" in str(d))
    assert "'activation distance'" in values


def test_notebook_path_accepts_path():
    from funcsim_lib.cli import NOTEBOOKS_DIR, notebook_path

    assert (
        notebook_path(str(NOTEBOOKS_DIR / "why.ipynb")) == NOTEBOOKS_DIR / "why.ipynb"
    )
    assert notebook_path("why") == NOTEBOOKS_DIR / "why.ipynb"


def test_train_rejects_store_that_is_a_file(tmp_path, capsys):
    store = tmp_path / "store"
    store.write_text("")
    status = main(["-q", "train", "--profile", "smoke", "--store", str(store)])
    assert status == 1
    err = capsys.readouterr().err
    assert f"funcsim: error: cannot create the study folder {store}/smoke-" in err
    assert f"{store} is a file, not a folder" in err


def test_train_rejects_runs_without_manifest(tmp_path, capsys, smoke_config):
    folder = tmp_path / f"smoke-{smoke_config.config_hash()}"
    (folder / "runs" / "base").mkdir(parents=True)
    (folder / "runs" / "base" / "run.json").write_text("{}")
    status = main(["-q", "train", "--profile", "smoke", "--store", str(tmp_path)])
    assert status == 1
    err = capsys.readouterr().err
    assert f"funcsim: error: {folder} contains stored data (runs)" in err
    assert "Move the folder away or delete it" in err
    assert sorted(p.name for p in folder.iterdir()) == ["runs"]
