"""``sedna lc``: run a node's LocalController."""

from __future__ import annotations


def register(sub) -> None:
    lc = sub.add_parser("lc", help="run the LocalController of one node")
    lc.set_defaults(func=_run)


def _run(args) -> int:
    from sedna.lc.main import run

    return run(args)
