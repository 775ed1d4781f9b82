"""The ``individ`` command: one entry point, one sub-command per part of the product.

Each part registers its sub-command from its own ``cli`` module, which keeps heavy imports (OpenCV,
onnxruntime, Dagster) inside the handler so that ``individ sensor`` never loads Dagster and the
pipelines never load OpenCV.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from individ.site_config import ConfigError, example_site_path, load_site_config

# Modules that define ``register(subparsers)``; listed here so a missing part fails loudly.
COMMAND_MODULES: tuple[str, ...] = (
    "sensors.cli",
    "individ.simulator.cli",
    "individ.demo",
    "individ_pipelines.cli",
    "individ.audit.cli",
)


def _config_check(args: argparse.Namespace) -> int:
    config = load_site_config(args.config)
    print(
        f"{args.config}: valid site {config.site.id!r} with {len(config.cameras)} cameras, {len(config.stores)} stores"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="individ", description="Privacy-preserving customer-flow analytics.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config = commands.add_parser("config", help="site configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_commands.add_parser("check", help="validate a site configuration file")
    check.add_argument("config", nargs="?", default=str(example_site_path()), help="site YAML (default: the demo mall)")
    check.set_defaults(handler=_config_check)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
