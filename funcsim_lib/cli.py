"""The ``funcsim`` command line: train a study, or build the whole book."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import yaml

from funcsim_lib.config import PROFILES

log = logging.getLogger("funcsim_lib")


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
        help="runs trained side by side on the CPU, one thread each (default: 2)",
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

    commands.add_parser("profiles", help="list the profiles")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    if args.command == "profiles":
        for name, profile in PROFILES.items():
            print(f"{name:8s} {profile.description}")
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
    except (FileNotFoundError, ValueError) as error:
        print(f"funcsim: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
