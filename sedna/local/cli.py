"""``sedna local ...``: the single-machine cluster (API emulator + process runtime)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    local = sub.add_parser("local", help="single-machine cluster: API emulator + process runtime")
    local.add_argument("--data-dir", default=None,
                       help="cluster directory (default $SEDNA_LOCAL_DIR or ~/.sedna/local)")
    cmds = local.add_subparsers(dest="local_command", metavar="ACTION", required=True)

    up = cmds.add_parser("up", help="start the cluster (API server, nodes, runtime, GM and LCs)")
    up.add_argument("--nodes", default="cloud-node,edge-node",
                    help="comma-separated node names, each optionally with labels: name:k=v;k2=v2")
    up.add_argument("--no-controllers", action="store_true", help="do not start the GM and the LCs")
    up.add_argument("--image-map", default="", help="image map YAML (see docs/local.md)")
    up.add_argument("--cluster-cidr", default="127.20.0.0/16", help="the cluster's /16 of 127.0.0.0/8")
    up.add_argument("--api-port", type=int, default=0, help="API server port (default: a free one)")
    up.add_argument("--lc-port", type=int, default=9100, help="port of every LC on its node's address")
    up.add_argument("--crds-dir", default="",
                    help="CRD YAML directory (default: the CRDs generated from sedna.api, same as deploy/crds)")
    up.add_argument("--kb-server", default="http://localhost:9020",
                    help="knowledge base URL the GM injects into lifelong-learning workers as KB_SERVER")
    up.add_argument("--no-dashboard", action="store_true", help="do not start the web dashboard")
    up.add_argument("--dashboard-port", type=int, default=0, help="dashboard port (default: a free one)")
    up.add_argument("--foreground", action="store_true", help="run the supervisor in this process")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the cluster")

    down = cmds.add_parser("down", help="stop everything and kill every pod process")
    down.add_argument("--purge", action="store_true", help="also delete the cluster directory")

    cmds.add_parser("status", help="show whether the cluster runs, its processes, nodes and pods")

    apply = cmds.add_parser("apply", help="create or update objects from YAML files")
    apply.add_argument("-f", "--filename", action="append", required=True, help="YAML file ('-' = stdin)")
    apply.add_argument("-n", "--namespace", default="default")

    get = cmds.add_parser("get", help="list or show objects")
    get.add_argument("kind")
    get.add_argument("name", nargs="?")
    get.add_argument("-n", "--namespace", default="default")
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-o", "--output", choices=["yaml", "json", "wide", "name"], default=None)

    delete = cmds.add_parser("delete", help="delete objects")
    delete.add_argument("kind")
    delete.add_argument("names", nargs="+")
    delete.add_argument("-n", "--namespace", default="default")

    logs = cmds.add_parser("logs", help="print a pod container's log")
    logs.add_argument("pod")
    logs.add_argument("-c", "--container", default=None)
    logs.add_argument("-n", "--namespace", default="default")

    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new output")

    # `sedna local up --data-dir X` works as well as `sedna local --data-dir X up`
    for parser in cmds.choices.values():
        parser.add_argument("--data-dir", default=argparse.SUPPRESS, help="cluster directory")
    local.set_defaults(func=_run)


def _run(args) -> int:
    from sedna.local.main import run

    return run(args)
