"""The build record that the "how this book was built" page reports."""

import json
import shlex

import nbformat
import yaml

from funcsim_lib import colophon
from funcsim_lib.cli import build_parser
from funcsim_lib.config import resolve_study


def write_build(build_dir, study: str, seconds: dict, executed: list[str]) -> None:
    record = {"study": study, "trained": False, "executed": executed}
    (build_dir / "executed").mkdir(parents=True)
    (build_dir / "timings.json").write_text(json.dumps({**record, "seconds": seconds}))
    for name, duration in (("why", 3.5), ("impact", 8.25), ("colophon", 1.0)):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["papermill"] = {
            "duration": duration,
            "end_time": "2026-12-04T15:10:12.123456",
        }
        nbformat.write(notebook, build_dir / "executed" / f"{name}.ipynb")


def test_record_reads_stages_and_notebooks(tmp_path):
    write_build(tmp_path, "abc", {"train": 1.0, "notebooks": 12.5}, ["why"])
    record = colophon.read_build_record(tmp_path, "abc")
    assert record.seconds == {"train": 1.0, "notebooks": 12.5}
    assert [run.name for run in record.notebooks] == ["impact", "why"]
    assert [run.in_this_build for run in record.notebooks] == [False, True]
    assert record.notebooks[0].end_time == "2026-12-04 15:10:12"
    table = record.notebooks_table()
    assert "| `impact` | 2026-12-04 15:10:12 | 8.2 | reused |" in table
    assert "| `why` | 2026-12-04 15:10:12 | 3.5 | this build |" in table
    assert "| `notebooks` | execute the section notebooks" in record.stages_table()


def test_record_notes_reuse_and_site_stage(tmp_path):
    write_build(tmp_path, "abc", {"train": 0.1, "notebooks": 0.0}, ["why"])
    note = colophon.read_build_record(tmp_path, "abc").stage_note()
    assert "site stage runs after this page" in note
    assert "found the whole study in the run store" in note
    assert "marked as reused" in note


def test_record_of_other_study_ignored(tmp_path):
    write_build(tmp_path, "abc", {"train": 1.0}, ["why"])
    record = colophon.read_build_record(tmp_path, "other")
    assert record.seconds == {}
    assert record.notebooks == []
    assert "outside the pipeline" in record.stage_note()
    assert record.stages_table() == "No stage times were recorded.\n"


def test_record_without_build(tmp_path):
    record = colophon.read_build_record(tmp_path / "missing", "abc")
    assert record.seconds == {}
    assert record.date.split()[-1].isdigit()


def test_rebuild_command_parses_back():
    study = resolve_study("smoke", init_seeds=[4, 5, 6], data_seeds=[7, 8, 9])
    overrides = {"train.epochs": 1, "data.n_test": 50}
    text = colophon.rebuild_commands(study, overrides)
    line = next(x for x in text.splitlines() if x.startswith(".venv/bin/funcsim"))
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert args.command == "book"
    assert args.profile == "smoke"
    assert args.init_seeds == [4, 5, 6]
    assert args.data_seeds == [7, 8, 9]
    assert dict(args.settings) == overrides
    papermill_line = next(x for x in text.splitlines() if " -y " in x)
    yaml_text = shlex.split(papermill_line)[-1]
    assert yaml.safe_load(yaml_text) == {
        "init_seeds": [4, 5, 6],
        "data_seeds": [7, 8, 9],
        "overrides": overrides,
    }


def test_versions_table_keeps_both_sides():
    environment = {"versions": {"python": "3.11.7", "plotly": "7.1.0"}}
    manifest = {"versions": {"python": "3.11.6", "safetensors": "0.8.0"}}
    table = colophon.versions_table(environment, manifest)
    assert "| python | 3.11.7 | 3.11.6 |" in table
    assert "| plotly | 7.1.0 | - |" in table
    assert "| safetensors | - | 0.8.0 |" in table


def test_environment_lists_hardware():
    environment = colophon.build_environment()
    assert environment["versions"]["plotly"] != "not installed"
    assert int(environment["hardware"]["cpu_count"]) >= 1
    assert environment["hardware"]["memory"].endswith("GiB")


def test_build_lists_study_packages():
    from funcsim_lib.colophon import build_environment
    from funcsim_lib.store import PACKAGES, package_versions

    versions = build_environment()["versions"]
    for name in PACKAGES:
        assert versions[name] == package_versions((name,))[name]
        assert versions[name] != "not installed"
