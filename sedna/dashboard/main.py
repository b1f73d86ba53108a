"""Running the dashboard: resolve the cluster, the token rule and the links, then serve until stopped."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from pathlib import Path

from sedna.dashboard.app import MetricsLink, create_app
from sedna.dashboard.history import MetricsHistory
from sedna.dashboard.hub import ClusterHub
from sedna.dashboard.kube import KubeReader, load_connection
from sedna.service.server.base import UvicornService

logger = logging.getLogger(__name__)


class DashboardServer(UvicornService):
    service_label = "sedna dashboard"
    thread_name = "sedna-dashboard"

    #: event streams never end by themselves: on shutdown they get this many seconds, then are cancelled
    SHUTDOWN_GRACE_SECONDS = 2

    def __init__(self, app, host: str, port: int):
        self.app = app
        self._init_service(host, port)

    def _prepare(self):
        server, sock = super()._prepare()
        server.config.timeout_graceful_shutdown = self.SHUTDOWN_GRACE_SECONDS
        return server, sock


def is_loopback(host: str) -> bool:
    """Only a loopback bind serves without a token (the local user's view, like ``kubectl proxy``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_links(items: list[str]) -> list[MetricsLink]:
    links = []
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ValueError(f"--metrics-link {item!r}: expected NAME=http(s)://...")
        links.append(MetricsLink(name=name, url=url))
    return links


def read_token(token_file: str | None) -> str:
    if token_file:
        return Path(token_file).read_text().strip()
    return os.environ.get("SEDNA_DASHBOARD_TOKEN", "").strip()


def run(args) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)     # one INFO line per watch request otherwise
    try:
        if args.history_points < 1:
            raise ValueError(f"--history-points must be at least 1, not {args.history_points}")
        links = parse_links(args.metrics_link)
        token = read_token(args.token_file)
    except (ValueError, OSError) as exc:
        print(f"sedna dashboard: {exc}", file=sys.stderr)
        return 2
    if not token and not is_loopback(args.host):
        print(f"sedna dashboard: binding {args.host} needs a token (--token-file or $SEDNA_DASHBOARD_TOKEN); "
              "only loopback addresses serve without one", file=sys.stderr)
        return 2
    try:
        conn = load_connection(args.kubeconfig)
    except Exception as exc:  # noqa: BLE001 - the kubernetes loader raises several kinds
        print(f"sedna dashboard: cannot read the cluster configuration: {exc}", file=sys.stderr)
        return 2
    hub = ClusterHub(KubeReader(conn), MetricsHistory(max_points=args.history_points)).start()
    server = DashboardServer(create_app(hub, token or None, links), args.host, args.port)
    try:
        srv, sock = server._prepare()
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"sedna dashboard: http://{shown}:{server.port}/ (cluster {conn.server})", flush=True)
        server._serve(srv, sock)
    except OSError as exc:
        print(f"sedna dashboard: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    finally:
        hub.stop()
    return 0
