"""Compute the landscape grids of a trained study into its run store.

Run it alone, or under ``torchrun`` to share the rows among ranks::

    python -m funcsim_lib.landscape --profile digits --store studies
    torchrun --nnodes 1 --nproc-per-node 2 --master-addr 127.0.0.1 \\
        --master-port 29511 -m funcsim_lib.landscape --profile smoke

Under ``torchrun`` every rank evaluates its share of the missing rows and
rank 0 writes the grids; ``--workers`` applies only without it.
"""

from __future__ import annotations

import argparse
import logging
import sys

from funcsim_lib import distributed
from funcsim_lib.cli import add_study_arguments, parse_setting
from funcsim_lib.config import get_profile, replace_fields, resolve_study
from funcsim_lib.landscape.jobs import RandomPlane, section_jobs
from funcsim_lib.landscape.stored import compute_surfaces

log = logging.getLogger("funcsim_lib")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m funcsim_lib.landscape",
        description="Compute the loss-landscape grids of a trained study.",
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--landscape",
        dest="landscape_settings",
        type=parse_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the profile's LandscapeConfig, e.g. "
        "n_points=[21,21] or direction_seed=3 (repeatable)",
    )
    parser.add_argument(
        "--section",
        action="store_true",
        help="also compute the lines and the plane through the runs, as the "
        "traditional section does (default: the random planes only)",
    )
    parser.add_argument(
        "--device", help="where the models run (default: the study's device)"
    )
    parser.add_argument(
        "--method",
        default="auto",
        choices=("auto", "vit", "module"),
        help="the evaluator: the batched ViT forward, the model's own forward, "
        "or the first that supports the model (default: auto)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    overrides = dict(args.settings)
    if args.init_seeds is not None:
        overrides["init_seeds"] = args.init_seeds
    if args.data_seeds is not None:
        overrides["data_seeds"] = args.data_seeds
    try:
        study_config = resolve_study(args.profile, **overrides)
        config = replace_fields(
            get_profile(args.profile).landscape, dict(args.landscape_settings)
        )
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from funcsim_lib.study import Study

    with distributed.process_group() as ranks:
        try:
            study = Study(study_config, args.store)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        jobs = (
            section_jobs(config)
            if args.section
            else [RandomPlane(run, config) for run in config.runs]
        )
        grids = compute_surfaces(
            study, jobs, args.workers, device=args.device, method=args.method
        )
        if ranks.is_root:
            for job, grid in zip(jobs, grids):
                print(f"{job.name}: key {grid['key']}, {grid['loss'].shape} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
