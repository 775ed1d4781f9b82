"""``individ simulate``: write simulated sensor output for a site into a landing zone, with ground truth apart."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from individ.site_config import ConfigError, example_site_path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "simulate",
        help="simulate shoppers and the sensors' output (contract v1 segments + ground truth)",
        description=(
            "Simulate local days of shoppers at a site and write what its sensors would emit into <data>/landing "
            "(through the contract writer) and the ground truth into <data>/truth. Deterministic for a seed."
        ),
    )
    parser.add_argument("--config", default=str(example_site_path()), help="site YAML (default: the demo mall)")
    parser.add_argument("--simulation", help="YAML file with a 'simulation:' mapping of simulator parameters")
    parser.add_argument("--data", default="./individ-data", help="data folder (default: ./individ-data)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="first local date, YYYY-MM-DD (default: yesterday)")
    parser.add_argument("--days", type=int, default=1, help="number of days (default 1)")
    parser.add_argument(
        "--visitors-per-hour",
        type=float,
        help="new visitors per hour averaged over opening hours (returns on top; default 5000)",
    )
    parser.add_argument("--p", type=float, help="probability that two sightings of a person share a group (0.5)")
    parser.add_argument("--linkage", choices=("pairwise", "previous_group"), help="group model (default pairwise)")
    parser.add_argument("--opening", help="local opening time HH:MM (default 09:00)")
    parser.add_argument("--closing", help="local closing time HH:MM (default 21:00)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--imperfections",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="missed detections, double counts, outages, clock skew, late/duplicate segments (default on)",
    )
    parser.add_argument(
        "--calibrate-traffic",
        action="store_true",
        help=(
            "set every camera's expected_passes_per_hour (which fixes the fictitious plan) from an independent "
            "calibration day at this traffic, and save that site config as <data>/site.yaml for the pipeline"
        ),
    )
    parser.add_argument("--malformed", type=int, help="also drop this many corrupt segment files (tests)")
    parser.add_argument(
        "--delivered-until",
        type=dt.datetime.fromisoformat,
        help="withhold segments that would arrive after this UTC time (ISO-8601); rerun later to deliver them",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from individ.simulator import SimulationParameters, load_simulation_parameters, simulate
    from individ.simulator.calibration import calibrated_site, write_site_config
    from individ.site_config import load_site_config

    if args.days < 1:
        raise ConfigError("--days must be at least 1")
    site = load_site_config(args.config)
    params = load_simulation_parameters(args.simulation) if args.simulation else SimulationParameters()
    overrides = {
        "visitors_per_hour": args.visitors_per_hour,
        "p": args.p,
        "linkage": args.linkage,
        "opening": args.opening,
        "closing": args.closing,
    }
    update = {key: value for key, value in overrides.items() if value is not None}
    imperfections = params.imperfections
    if args.imperfections is not None:
        imperfections = imperfections.model_copy(update={"enabled": args.imperfections})
    if args.malformed is not None:
        imperfections = imperfections.model_copy(update={"malformed_segments": args.malformed})
    params = SimulationParameters.model_validate({**params.model_dump(), **update, "imperfections": imperfections})
    start = args.date or (dt.datetime.now(site.tz).date() - dt.timedelta(days=1))
    if args.calibrate_traffic:
        site = calibrated_site(site, params, start, args.seed)
        print(f"calibrated site configuration: {write_site_config(site, Path(args.data) / 'site.yaml')}")
    until = args.delivered_until
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    began = time.perf_counter()
    result = simulate(site, params, Path(args.data), start, args.days, args.seed, delivered_until=until)
    seconds = time.perf_counter() - began
    segments = result.meta["segments"]
    print(
        f"simulated {args.days} day(s) from {start} at {params.visitors_per_hour:g} visitors/h, p={params.p:g}, "
        f"seed {args.seed} in {seconds:.1f} s: {result.occurrences:,} occurrences, {segments}"
    )
    print(f"landing zone: {result.landing}")
    print(f"ground truth: {result.truth}")
    return 0
