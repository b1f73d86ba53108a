"""The ``sedna`` command: one entry point, one sub-command group per part of the system.

Each part owns a ``cli`` module exposing ``register(subparsers)``; heavy imports happen inside the handlers
so ``sedna version`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from sedna import __version__

COMMAND_MODULES = (
    "sedna.api.cli",     # crds generate, validate
    "sedna.gm.cli",      # gm
    "sedna.lc.cli",      # lc
    "sedna.local.cli",   # local up/down/status/apply/get/logs
    "sedna.dashboard.cli",  # dashboard
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sedna", description="Edge-cloud collaborative AI on Kubernetes.")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda args: print(__version__) or 0)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
