"""``python -m sedna.local.apiserver --host 127.0.0.1 --port 0 [--data-dir DIR]``."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path

from sedna.common.tokens import warn_insecure
from sedna.local.apiserver import serve, write_kubeconfig
from sedna.local.apiserver.tls import ensure_certificate, server_context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sedna.local.apiserver",
                                     description="Kubernetes API emulator for the single-machine cluster.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6443, help="0 picks a free port")
    parser.add_argument("--data-dir", default=None, help="persist objects in DIR/apiserver.sqlite")
    parser.add_argument("--logs-dir", default=None, help="pod log files (default DATA_DIR/logs)")
    parser.add_argument("--kubeconfig", default=None, help="also write a kubeconfig for the server here")
    parser.add_argument("--history", type=int, default=10_000, help="watch events kept per resource")
    parser.add_argument("--event-ttl", type=float, default=3600.0, help="seconds an Event is kept")
    parser.add_argument("--service-cidr", default=None,
                        help="where Service ClusterIPs come from: comma-separated CIDRs or FIRST-LAST ranges "
                             "(default 10.96.0.0/16); e.g. 127.20.1.1-127.20.15.254 for the local runtime's layout")
    parser.add_argument("--token", default=None,
                        help="bearer token clients must present (default: a random one, written to --kubeconfig)")
    parser.add_argument("--tls-port", type=int, default=0, help="port of the HTTPS listener (default: a free one)")
    parser.add_argument("--token-file", default=None, help="read the bearer token from this file (kept off argv)")
    parser.add_argument("--insecure", action="store_true", help="accept requests without a token (logged loudly)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.service_cidr:
        from sedna.local.apiserver.builtins import ServiceIPRange
        try:
            ServiceIPRange(args.service_cidr)
        except ValueError as exc:
            parser.error(f"--service-cidr: {exc}")
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.token_file:
        args.token = Path(args.token_file).read_text().strip()
    token = None if args.insecure else (args.token or secrets.token_urlsafe(32))
    if token is None:
        warn_insecure("sedna local API server", "any local process can create pods")
    elif not args.token and not args.kubeconfig:
        parser.error("give --kubeconfig (where the random token is written), --token or --insecure")

    tls = None
    if token and args.kubeconfig:
        # kubectl sends a bearer token only over HTTPS: the kubeconfig points at a second, TLS listener.
        cert, key = ensure_certificate(Path(args.kubeconfig).resolve().parent / "pki")
        tls = (server_context(cert, key), args.tls_port)
    tls_url: list[str] = []

    def ready(url: str) -> None:
        if args.kubeconfig:
            if tls_url:
                write_kubeconfig(args.kubeconfig, tls_url[0], token=token, ca_file=cert)
            else:
                write_kubeconfig(args.kubeconfig, url, token=token or "")
        print(f"listening on {url}", flush=True)

    serve(args.host, args.port, args.data_dir, logs_dir=args.logs_dir, on_ready=ready, on_tls=tls_url.append,
          tls=tls, history=args.history,
          event_ttl=args.event_ttl, service_cidr=args.service_cidr, token=token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
