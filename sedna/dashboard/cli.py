"""``sedna dashboard``: the read-only web dashboard of Sedna jobs."""

from __future__ import annotations


def register(sub) -> None:
    dash = sub.add_parser("dashboard", help="serve the web dashboard of Sedna jobs (read-only)")
    dash.add_argument("--kubeconfig", default=None,
                      help="kubeconfig file (default $KUBECONFIG, ~/.kube/config, else the in-cluster account)")
    dash.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1; any other address requires a token)")
    dash.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks a free one)")
    dash.add_argument("--token-file", default=None,
                      help="file holding the bearer token (default $SEDNA_DASHBOARD_TOKEN)")
    dash.add_argument("--metrics-link", action="append", default=[], metavar="NAME=URL",
                      help="a Prometheus metrics page to link to (repeatable), e.g. gm=http://127.0.0.1:9000/metrics")
    dash.add_argument("--history-points", type=int, default=720, help="samples kept per object for the plots")
    dash.set_defaults(func=_run)


def _run(args) -> int:
    from sedna.dashboard.main import run

    return run(args)
