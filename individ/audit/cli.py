"""``individ audit``: the privacy audit of one site and period, as HTML and JSON.

Heavy imports stay inside the handler; the sensor's measurements (OpenCV) are loaded only if the sensor
package is importable, and skipped with ``--no-sensor``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "./individ-data"
_DEFAULT_LANDING = ("./individ-data/landing", "individ-data/landing")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "audit",
        help="measure every privacy guarantee for a period; write an HTML and a JSON report",
        description="Measure every privacy guarantee of a site for a period (UTC dates, both included) and write "
        "an HTML and a JSON report. Exit code 0: no guarantee failed; 1: at least one failed.",
    )
    parser.add_argument("--config", required=True, help="site YAML")
    parser.add_argument("--data", default=DEFAULT_DATA_DIR, help="data folder (landing/, warehouse.duckdb, truth/)")
    parser.add_argument("--from", dest="start", required=True, help="first UTC day (YYYY-MM-DD) or ISO time")
    parser.add_argument("--to", dest="end", required=True, help="last UTC day, included (YYYY-MM-DD) or ISO time")
    parser.add_argument("--out", default=None, help="report folder (default: <data>/reports/audit)")
    parser.add_argument("--no-sensor", action="store_true", help="skip the measurements that run the sensor's code")
    parser.add_argument("--shared-data", default=None, help="shared re-identification data (default: ../shared/data)")
    parser.set_defaults(handler=_audit)


def parse_period(start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC [start, end): a date means its whole day, and the end date is included."""

    def parse(text: str, is_end: bool) -> dt.datetime:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            value = dt.datetime.fromisoformat(text)
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        return moment + dt.timedelta(days=1) if is_end else moment

    try:
        first, last = parse(start, False), parse(end, True)
    except ValueError:
        raise ValueError(f"cannot read the period {start!r} to {end!r}: use YYYY-MM-DD or ISO-8601 times") from None
    if last <= first:
        raise ValueError(f"the period {start} to {end} is empty: --to must not be before --from")
    return first, last


def landing_root(config_landing: str, data_dir: Path) -> str:
    """The site's landing zone; the example configs' default follows the data folder (as the pipelines do)."""
    if config_landing.rstrip("/") in _DEFAULT_LANDING:
        return str(data_dir / "landing")
    return config_landing


def _audit(args: argparse.Namespace) -> int:
    from individ.audit import failed_guarantees, run_audit, write_report
    from individ.site_config import load_site_config

    config = load_site_config(args.config)
    try:
        start, end = parse_period(args.start, args.end)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    data_dir = Path(args.data).resolve()
    figures, note = None, "skipped with --no-sensor"
    if not args.no_sensor:
        try:
            from sensors.audit_grouping import sensor_figures, shared_data_dir
        except ImportError as exc:
            note = f"the sensor package is not importable here ({exc.name or exc})"
        else:
            shared = Path(args.shared_data) if args.shared_data else shared_data_dir()
            log.info("measuring grouping and noise with the sensor's code (shared data: %s)", shared or "absent")
            figures = sensor_figures(config, shared)
            note = "measured in this run with the sensor's embedding, noise and keyed hash"
    report = run_audit(
        config,
        landing_root=landing_root(config.landing_zone, data_dir),
        start=start,
        end=end,
        warehouse=data_dir / "warehouse.duckdb",
        truth_dir=data_dir / "truth",
        data_dir=data_dir,
        config_dir=Path(args.config).resolve().parent,
        sensor_figures=figures,
        sensor_note=note,
    )
    out = Path(args.out) if args.out else data_dir / "reports" / "audit"
    html, json_path = write_report(report, config, out)
    failed = failed_guarantees(report)
    counts = report.to_json_dict()["summary"]
    print(
        f"audit of {config.site.id}, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: "
        f"{counts['pass']} pass, {counts['fail']} fail, {counts['not_measured']} not measured"
    )
    for guarantee in failed:
        print(
            f"  FAIL {guarantee.id}: {guarantee.value} {guarantee.unit} (threshold {guarantee.comparison} "
            f"{guarantee.threshold}) - {guarantee.detail}"
        )
    print(f"report: {html}\n        {json_path}")
    return 1 if failed else 0
