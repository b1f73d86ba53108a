"""``sedna gm``: run the GlobalManager."""

from __future__ import annotations


def register(sub) -> None:
    gm = sub.add_parser("gm", help="run the GlobalManager (kopf operator + LC websocket server)")
    gm.add_argument("--config", default=None, help="YAML config file (gm.md §1.2 keys; default ./sedna-gm.yaml)")
    gm.add_argument("--version", action="version", version=_version())
    gm.set_defaults(func=_run)


def _version() -> str:
    from sedna import __version__

    return f"sedna gm {__version__}"


def _run(args) -> int:
    from sedna.gm.main import run

    return run(args)
