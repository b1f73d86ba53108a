"""``sedna gm``: run the GlobalManager."""

from __future__ import annotations


def register(sub) -> None:
    gm = sub.add_parser("gm", help="run the GlobalManager (kopf operator + LC websocket server)")
    gm.add_argument("--config", default=None, help="YAML config file (gm.md §1.2 keys)")
    gm.set_defaults(func=_run)


def _run(args) -> int:
    from sedna.gm.main import run

    return run(args)
