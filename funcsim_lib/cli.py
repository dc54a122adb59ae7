"""The ``funcsim`` command line: train a study, build the book, rerun a notebook.

Every value is checked against the notebooks' declared parameters before any
training or execution starts. A wrong one exits with status 2 and a message
that names the parameter, the expected type and the value received.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import yaml

from funcsim_lib import children
from funcsim_lib.config import PROFILES

log = logging.getLogger("funcsim_lib")
NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def parse_setting(text: str) -> tuple[str, object]:
    """Parse ``key=value``, reading the value as YAML (``3``, ``0.1``, ``[1, 2]``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE such as train.epochs=10, got {text!r}"
        )
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(
            f"invalid value in {text!r}: {error}"
        ) from None


def parse_parameter(text: str) -> object:
    """Parse the VALUE of ``-p NAME VALUE`` as YAML, as ``--set`` does."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(f"invalid YAML {text!r}: {error}") from None


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default="digits",
        choices=sorted(PROFILES),
        help="named defaults for data, model and recipe (default: digits)",
    )
    parser.add_argument(
        "--init-seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="K + 1 initialisation seeds: base (and siddo), then disdo_1..K",
    )
    parser.add_argument(
        "--data-seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="K + 1 data seeds: base (and disdo), then siddo_1..K",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        type=parse_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. train.epochs=10 "
        "or data.root=/data/cifar10 (repeatable)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=Path(os.environ.get("FUNCSIM_STORE", "studies")),
        help="run store folder (default: $FUNCSIM_STORE or ./studies)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help=(
            "processes side by side on the CPU, one thread each: runs being "
            "trained, or landscape grids being evaluated (default: 2)"
        ),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="funcsim", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a study into the run store")
    add_study_arguments(train)

    book = commands.add_parser(
        "book", help="train, execute the notebooks, build the site"
    )
    add_study_arguments(book)
    book.add_argument(
        "--output",
        type=Path,
        default=Path("."),
        help="the site goes to OUTPUT/_build/html (default: .)",
    )

    rerun = commands.add_parser(
        "notebook",
        help="execute one notebook with papermill, with checked parameters",
        description="Execute one notebook of notebooks/ with papermill. The "
        "study options set the common parameters; -p sets the notebook's own "
        "(see `funcsim params NAME`).",
    )
    rerun.add_argument("name", help="notebook name, e.g. quantitative")
    add_study_arguments(rerun)
    rerun.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set one of the notebook's own parameters; VALUE is read as YAML, "
        "e.g. -p grid_points 21 (repeatable)",
    )
    rerun.add_argument(
        "--output",
        type=Path,
        help="executed notebook to write (default: _build/reruns/NAME.ipynb)",
    )

    params = commands.add_parser(
        "params", help="list each notebook's parameters with types and defaults"
    )
    params.add_argument("names", nargs="*", help="notebooks to list (default: all)")
    params.add_argument("--markdown", action="store_true", help="print Markdown tables")

    commands.add_parser("profiles", help="list the profiles")
    return parser


def fail(message: str, status: int = 2) -> int:
    print(f"funcsim: error: {message}", file=sys.stderr)
    return status


def notebook_path(name: str) -> Path:
    """Return the source of notebook ``name``, or raise listing the known ones.

    ``name`` is a notebook's name, or the path of a notebook in the project's
    ``notebooks`` folder (``notebooks/why.ipynb``).
    """
    as_path = Path(name)
    in_folder = as_path.resolve().parent == NOTEBOOKS_DIR.resolve()
    if as_path.suffix == ".ipynb" and in_folder:
        name = as_path.stem
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    if "/" in name or not path.exists():
        known = ", ".join(sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb")))
        raise ValueError(f"unknown notebook {name!r}; expected one of: {known}")
    return path


def _cell(text: str) -> str:
    """Escape the bars of ``list[int] | None``, which would split a table cell."""
    return text.replace("|", "\\|")


def parameters_text(names: list[str], markdown: bool) -> str:
    """Return each notebook's parameters as text or as Markdown tables."""
    from funcsim_lib.notebook import read_parameters

    if not names:
        names = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    blocks = []
    for name in names:
        parameters = read_parameters(notebook_path(name))
        if markdown:
            rows = [
                f"| `{p.name}` | `{_cell(p.type_text)}` | `{p.default!r}` | {p.help} |"
                for p in parameters.values()
            ]
            header = "| parameter | type | default | meaning |\n|---|---|---|---|"
            blocks.append(f"`notebooks/{name}.ipynb`\n\n{header}\n" + "\n".join(rows))
        else:
            rows = [
                f"  {p.name:15s} {p.type_text:17s} {p.default!r:14s} {p.help}"
                for p in parameters.values()
            ]
            blocks.append(f"{name}\n" + "\n".join(rows))
    return "\n\n".join(blocks)


def run_notebook(args: argparse.Namespace, overrides: dict | None) -> int:
    """Check the parameters of one notebook, then execute it with papermill."""
    from funcsim_lib.notebook import ParameterError, check_values, read_parameters
    from funcsim_lib.pipeline import REPO, run_papermill

    try:
        source = notebook_path(args.name)
        declared = read_parameters(source)
    except ValueError as error:
        return fail(str(error))
    values = {
        "profile": args.profile,
        "init_seeds": args.init_seeds,
        "data_seeds": args.data_seeds,
        "overrides": overrides,
        "store_dir": str(args.store.resolve()),
        "workers": args.workers,
    }
    for name, value in args.parameters:
        if name in values:
            return fail(
                f"-p {name} sets a common parameter; use the option "
                f"--{name.replace('_', '-')} instead"
            )
        values[name] = parse_parameter(value)
    try:
        check_values(declared, values, args.name)
    except ParameterError as error:
        return fail(str(error))
    output = args.output or REPO / "_build" / "reruns" / f"{args.name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    log.info("executing %s into %s", source.name, output)
    try:
        run_papermill(source, output.resolve(), values)
    except RuntimeError as error:
        return fail(str(error), status=1)
    print(output)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with children.exit_on_sigterm():
        return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    if args.command == "profiles":
        for name, profile in PROFILES.items():
            print(f"{name:8s} {profile.description}")
        return 0
    if args.command == "params":
        try:
            print(parameters_text(args.names, args.markdown))
        except ValueError as error:
            return fail(str(error))
        return 0
    from funcsim_lib.notebook import ParameterError, resolve_parameters

    if args.workers < 1:
        print(
            f"funcsim: error: --workers must be at least 1, got {args.workers}",
            file=sys.stderr,
        )
        return 2
    overrides = dict(args.settings) or None
    try:
        study, _ = resolve_parameters(
            args.profile, args.init_seeds, args.data_seeds, overrides
        )
    except ParameterError as error:
        print(f"funcsim: error: {error}", file=sys.stderr)
        return 2
    if args.command == "notebook":
        return run_notebook(args, overrides)
    try:
        if args.command == "train":
            from funcsim_lib.training import train_study

            store = train_study(study, args.store, workers=args.workers)
            print(store.path)
        else:
            from funcsim_lib.pipeline import BuildOptions, build_book

            options = BuildOptions(
                profile=args.profile,
                init_seeds=args.init_seeds,
                data_seeds=args.data_seeds,
                overrides=overrides,
                store_dir=args.store,
                output_root=args.output,
                workers=args.workers,
            )
            html = build_book(options)
            print(html / "index.html")
    except ParameterError as error:
        return fail(str(error))
    except (FileNotFoundError, ValueError) as error:
        print(f"funcsim: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
