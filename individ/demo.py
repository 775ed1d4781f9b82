"""``individ demo``: the whole product on embedded defaults, in one command.

1. The anonymization sensor on the shipped CC BY 4.0 demo clip (``individ/sites/demo_clip.yaml``), in its
   own process and data folder, then the privacy audit of what it wrote.
2. A simulated day of the shipped demo mall -> the landing zone -> Dagster (ingestion, dbt models and
   their checks, in-process against a real instance in ``<data>/dagster_home``) -> the daily retailer
   reports -> ``dbt docs generate``.

Prints where to open the results. Dagster and dbt are imported inside the handler and the sensor runs
as a sub-process: the core package never loads them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from individ.contract import LandingZone, Stream
from individ.output import output_to
from individ.site_config import example_site_path, load_site_config

DEMO_DAY = dt.date(2026, 3, 14)  # a Saturday; any past day works

# Something that writes contract segments into the landing zone (e.g. the sensor on the demo clip).
LandingSource = Callable[[LandingZone], object]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="simulate a day and run the whole analytics chain on it")
    parser.add_argument("--data", default="./individ-data", help="data folder (default ./individ-data)")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=DEMO_DAY, help=f"day (default {DEMO_DAY})")
    parser.add_argument("--visitors-per-hour", type=float, default=None, help="simulated traffic (simulator default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sensor", action="store_true", help="skip the sensor on the shipped demo clip")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    if not args.no_sensor:
        run_sensor_demo(data / "sensor-demo")
    run_demo(data, args.date, visitors_per_hour=args.visitors_per_hour, seed=args.seed)
    return 0


def run_sensor_demo(data: Path) -> None:
    """Run the real sensor on the shipped clip, then audit what it wrote (both as ``individ`` sub-processes)."""
    config = example_site_path("demo_clip")
    individ = [sys.executable, "-m", "individ.cli"]
    print(f"sensor: running on the shipped demo clip ({config}) ...", flush=True)
    clock = time.perf_counter()
    started = dt.datetime.now(dt.UTC)
    data.mkdir(parents=True, exist_ok=True)
    log = data / "sensor.log"
    with open(log, "wb") as sink:
        sensor = subprocess.run(
            [*individ, "sensor", "run", "--config", str(config), "--data", str(data)], stdout=sink, stderr=sink
        )
    if sensor.returncode != 0:
        raise SystemExit(f"the sensor failed on the demo clip (exit {sensor.returncode}); see {log}")
    zone = LandingZone(data / "landing")
    rows = {stream: sum(zone.read(segment).num_rows for segment in zone.segments(stream)) for stream in Stream}
    seconds = time.perf_counter() - clock
    print(
        f"sensor: {rows[Stream.OCCURRENCES]} occurrences (real passes plus fictitious persons), "
        f"{rows[Stream.DEMOGRAPHICS]} demographic cells, {rows[Stream.HEARTBEATS]} heartbeats "
        f"in {zone.root} ({seconds:.0f} s; log {log})"
    )
    audit = subprocess.run(
        [
            *individ,
            "audit",
            "--config",
            str(config),
            "--data",
            str(data),
            "--no-sensor",
            "--from",
            started.strftime("%Y-%m-%d"),
            "--to",
            dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        ],
        capture_output=True,
        text=True,
    )
    print(f"privacy audit of the sensor's output (exit {audit.returncode}):")
    for line in audit.stdout.strip().splitlines()[-4:]:
        print(f"  {line}")


def run_demo(
    data: Path,
    day: dt.date = DEMO_DAY,
    *,
    visitors_per_hour: float | None = None,
    seed: int = 0,
    extra_sources: Sequence[LandingSource] = (),
) -> Any:
    """Simulate ``day``, then run the chain; ``extra_sources`` deliver more segments before ingestion."""
    from individ.simulator.parameters import SimulationParameters
    from individ.simulator.run import simulate

    data = data.resolve()
    site_path = example_site_path()
    site = load_site_config(site_path)
    params = (
        SimulationParameters()
        if visitors_per_hour is None
        else SimulationParameters(visitors_per_hour=visitors_per_hour)
    )
    clock = time.perf_counter()
    simulated = simulate(site, params, data, day, days=1, seed=seed, progress=False)
    seconds = time.perf_counter() - clock
    print(f"simulated {day}: {simulated.occurrences:,} occurrences into {simulated.landing} ({seconds:.0f} s)")

    os.environ["INDIVID_DATA"] = str(data)
    os.environ["INDIVID_SITE_CONFIG"] = str(site_path)
    from individ_pipelines.chain import run_day
    from individ_pipelines.instance import prepare_dagster_home
    from individ_pipelines.settings import settings_from_env

    settings = settings_from_env()
    os.environ["DAGSTER_HOME"] = str(prepare_dagster_home(settings.dagster_home))
    import dagster as dg

    log = data / "demo-pipeline.log"
    print(f"Dagster: ingestion, dbt models and their checks, reports, dbt docs (log {log}) ...", flush=True)
    with output_to(log), dg.DagsterInstance.get() as instance:
        result = run_day(settings, day, instance, extra_sources=extra_sources)
    timings = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in result.seconds.items())
    print(f"Dagster runs for hours {result.hours[0]} .. {result.hours[1]} UTC done ({timings})")
    print("Reports:")
    for report in result.reports:
        print(f"  {report}")
    print(f"dbt docs: {result.dbt_docs}/static_index.html (one file) or index.html")
    print(f"Dagster UI: individ ui --data {data}   (then open http://127.0.0.1:3000)")
    return result
