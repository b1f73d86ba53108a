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
    up.add_argument("--bare", action="store_true",
                    help="API server and node agents only (no GM, LCs or CRDs): for installing the Helm chart "
                         "(sedna local install-chart); workers' LC_SERVER still points at their node's --lc-port")
    up.add_argument("--image-map", default="", help="image map YAML (see docs/local.md)")
    up.add_argument("--cluster-cidr", default=None,
                    help="the cluster's /16 of 127.0.0.0/8 (default: the first free one from 127.20.0.0/16 up; "
                         "another cluster's range is refused)")
    up.add_argument("--api-port", type=int, default=0, help="API server port (default: a free one)")
    up.add_argument("--lc-port", type=int, default=9100, help="port of every LC on its node's address")
    up.add_argument("--crds-dir", default="",
                    help="CRD YAML directory (default: the CRDs generated from sedna.api, same as deploy/crds)")
    up.add_argument("--kb-server", default="http://localhost:9020",
                    help="knowledge base URL the GM injects into lifelong-learning workers as KB_SERVER")
    up.add_argument("--no-dashboard", action="store_true", help="do not start the web dashboard")
    up.add_argument("--dashboard-port", type=int, default=0, help="dashboard port (default: a free one)")
    up.add_argument("--restart-backoff", type=float, default=10.0,
                    help="first back-off (s) before a failed container is restarted; doubles up to 300 s")
    up.add_argument("--foreground", action="store_true", help="run the supervisor in this process")
    up.add_argument("--insecure", action="store_true",
                    help="no authentication on the API server, GM channel and worker API (logged loudly)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the cluster")

    down = cmds.add_parser("down", help="stop everything and kill every pod process")
    down.add_argument("--purge", action="store_true", help="also delete the cluster directory")

    cmds.add_parser("status", help="show whether the cluster runs, its processes, nodes and pods")

    apply = cmds.add_parser("apply", help="create or update objects from YAML files")
    apply.add_argument("-f", "--filename", action="append", required=True, help="YAML file ('-' = stdin)")
    apply.add_argument("-n", "--namespace", default="default")
    apply.add_argument("--validate", default="strict", type=str.lower,
                       choices=["strict", "true", "warn", "ignore", "false"],
                       help="field validation as kubectl's: strict/true (unknown fields are an error naming the "
                            "field, the default), warn (a warning), ignore/false (dropped silently)")

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

    example = cmds.add_parser("example", help="run the examples end to end (docs/examples.md)")
    ex_cmds = example.add_subparsers(dest="example_command", metavar="ACTION", required=True)
    ex_cmds.add_parser("list", help="the examples and what each shows")
    ex_run = ex_cmds.add_parser("run", help="prepare, bring the cluster up if needed, apply, watch to the end")
    ex_run.add_argument("name")
    ex_run.add_argument("--cluster-cidr", default="127.20.0.0/16",
                        help="/16 of 127.0.0.0/8 for a cluster this command starts")
    ex_run.add_argument("--lc-port", type=int, default=9100, help="LC port for a cluster this command starts")
    ex_run.add_argument("--kb-server", default="http://kb.sedna:9020",
                        help="KB_SERVER for a cluster this command starts (upstream's default)")
    ex_run.add_argument("--timeout", type=float, default=0, help="seconds (default: the example's own)")
    ex_run.add_argument("--poll", type=float, default=1.0, help="seconds between observations")
    ex_run.add_argument("--down", action="store_true", help="stop the cluster at the end")
    ex_run.add_argument("--image-map", default="",
                        help="an image map whose entries replace the example's (e.g. your own worker images)")
    for parser in ex_cmds.choices.values():
        parser.add_argument("--data-dir", default=argparse.SUPPRESS, help="cluster directory")
    chart = cmds.add_parser("install-chart", help="render a Helm chart with Helm's engine and apply it "
                                                  "(helm install); needs the helm extra")
    chart.add_argument("chart", help="chart directory, e.g. deploy/helm/sedna")
    chart.add_argument("-f", "--values", action="append", default=[], help="values YAML file (repeatable)")
    chart.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a value (repeatable)")
    chart.add_argument("--release", default="sedna", help="release name (default sedna)")
    chart.add_argument("-n", "--namespace", default="sedna", help="release namespace, created if missing")
    chart.add_argument("--dry-run", action="store_true", help="print the rendered objects (helm template)")
    chart.add_argument("--include-crds", action="store_true", help="with --dry-run: print the CRDs too")

    e2e = cmds.add_parser("helm-e2e", help="up --bare, install the chart, run the joint-inference example through "
                                          "the chart's GM and LC, check its CR counts, down (hack/helm-e2e.sh)")
    e2e.add_argument("--chart", default="deploy/helm/sedna")
    e2e.add_argument("--example", default="examples/joint_inference/helmet_detection")
    e2e.add_argument("-n", "--namespace", default="sedna")
    e2e.add_argument("--frames", type=int, default=8)
    e2e.add_argument("--timeout", type=float, default=240.0, help="seconds for each wait")
    e2e.add_argument("--cluster-cidr", default="127.20.0.0/16")
    e2e.add_argument("--lc-port", type=int, default=9100)
    e2e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra chart value")
    e2e.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")

    # `sedna local up --data-dir X` works as well as `sedna local --data-dir X up`
    for parser in cmds.choices.values():
        parser.add_argument("--data-dir", default=argparse.SUPPRESS, help="cluster directory")
    local.set_defaults(func=_run)


def _run(args) -> int:
    from sedna.local.main import run

    return run(args)
