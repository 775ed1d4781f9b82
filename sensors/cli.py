"""``individ sensor ...``: run the anonymization sensor, or check its configuration.

Heavy imports (OpenCV, onnxruntime) stay inside the handlers so that other commands never load them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType


def register(commands: argparse._SubParsersAction) -> None:
    sensor = commands.add_parser("sensor", help="the anonymization sensor (camera frames -> anonymous events)")
    actions = sensor.add_subparsers(dest="sensor_command", required=True, metavar="ACTION")

    run = actions.add_parser("run", help="run the sensor service on the site's cameras")
    run.add_argument("--config", required=True, help="site YAML with cameras and a sensor: section")
    run.add_argument("--data", default=None, help="data folder: events go to DIR/landing (default: the site's)")
    run.add_argument("--max-seconds", type=float, default=None, help="stop after this many seconds")
    run.set_defaults(handler=_run)

    check = actions.add_parser("check-config", help="validate the site and sensor settings, models and sources")
    check.add_argument("--config", required=True, help="site YAML")
    check.set_defaults(handler=_check_config)


def _run(args: argparse.Namespace) -> int:
    from sensors.hardening import disable_core_dumps
    from sensors.logs import configure_logging
    from sensors.service import create_service
    from sensors.settings import load_sensor_config

    config = load_sensor_config(args.config)
    configure_logging(config.settings.log_format, 10 if getattr(args, "verbose", False) else 20)
    disable_core_dumps()  # before the site secret, any frame or feature is in memory
    service = create_service(config, args.data)

    def stop(signum: int, _frame: FrameType | None) -> None:
        service.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return service.run(args.max_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_config(args: argparse.Namespace) -> int:
    from sensors.logs import redact
    from sensors.settings import load_sensor_config
    from sensors.sources import SourceKind, resolve_source_path, source_kind

    config = load_sensor_config(args.config)
    problems = config.settings.models.resolved().missing()
    for camera in config.site.cameras:
        kind = source_kind(camera.source, config.base_dir)
        if kind is not SourceKind.STREAM and not resolve_source_path(camera.source, config.base_dir).exists():
            problems.append(f"cameras: {camera.id}: source {redact(camera.source)} not found (a file or folder)")
    if problems:
        print(f"{args.config}: settings are valid, but:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    settings = config.settings
    print(
        f"{Path(args.config)}: sensor {settings.sensor_id!r} for site {config.site.site.id!r}: "
        f"{len(config.site.cameras)} cameras, detector {settings.detector.kind.value}, models present"
    )
    return 0
