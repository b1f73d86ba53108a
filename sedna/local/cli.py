"""``sedna local ...``: the single-machine cluster."""

from __future__ import annotations


def register(sub) -> None:
    local = sub.add_parser("local", help="single-machine cluster: API emulator + process runtime")
    local.set_defaults(func=_run)


def _run(args) -> int:
    from sedna.local.main import run

    return run(args)
