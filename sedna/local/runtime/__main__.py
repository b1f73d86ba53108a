"""``python -m sedna.local.runtime``: a node agent (``--node``) and/or the cluster services
(``--cluster-services``) of the single-machine cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from sedna.local.runtime import agent, cluster, images, netplan, paths
from sedna.local.runtime.kube import KubeClient


def parse_labels(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"label {item!r} must be key=value")
        out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sedna.local.runtime", description=__doc__)
    p.add_argument("--server", help="API server URL")
    p.add_argument("--kubeconfig", help="kubeconfig file (instead of --server)")
    p.add_argument("--node", help="run the node agent of this node")
    p.add_argument("--cluster-services", action="store_true", help="run scheduler, ClusterIPs and service proxy")
    p.add_argument("--scheduler-name", default="sedna-local",
                   help="bind unscheduled pods with this spec.schedulerName (cluster services)")
    p.add_argument("--data-dir", default=".sedna-local", help="cluster data directory")
    p.add_argument("--cluster-cidr", default="127.20.0.0/16", help="the cluster's /16 inside 127.0.0.0/8")
    p.add_argument("--node-index", type=int, default=None, help="node number (derives address and pod CIDR)")
    p.add_argument("--address", default="", help="node InternalIP (default from --node-index)")
    p.add_argument("--pod-cidr", default="", help="pod CIDR (default from --node-index)")
    p.add_argument("--labels", type=parse_labels, default={}, help="extra node labels k=v,k2=v2")
    p.add_argument("--image-map", default="", help="image map YAML (see docs/local.md)")
    p.add_argument("--lc-server", default="", help="URL put into workers' LC_SERVER (this node's LC)")
    p.add_argument("--pod-kubeconfig", default="",
                   help="kubeconfig given (as KUBECONFIG) to pods with a serviceAccountName, e.g. a chart's GM")
    p.add_argument("--backoff-base", type=float, default=10.0, help="first restart back-off, seconds")
    p.add_argument("--backoff-max", type=float, default=300.0, help="restart back-off cap, seconds")
    p.add_argument("--heartbeat", type=float, default=10.0, help="node status heartbeat, seconds")
    p.add_argument("--log-level", default="INFO")
    return p


async def _main(args) -> None:
    client = KubeClient.from_args(args.server, args.kubeconfig)
    net = netplan.ClusterNet.from_cidr(args.cluster_cidr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    jobs = []
    if args.cluster_services:
        jobs.append(cluster.serve(client, net, stop, args.scheduler_name,
                                  hosts_file=paths.service_hosts_path(Path(args.data_dir).resolve())))
    if args.node:
        address, pod_cidr = args.address, args.pod_cidr
        if args.node_index is not None:
            address = address or net.node_address(args.node_index)
            pod_cidr = pod_cidr or net.pod_cidr(args.node_index)
        cfg = agent.AgentConfig(
            node=args.node, data_dir=Path(args.data_dir).resolve(), address=address, pod_cidr=pod_cidr,
            labels=args.labels, image_map=images.with_sedna_images(images.load_image_map(args.image_map or None)),
            lc_server=args.lc_server, pod_kubeconfig=str(Path(args.pod_kubeconfig).resolve()) if args.pod_kubeconfig
            else "", backoff_base=args.backoff_base, backoff_max=args.backoff_max,
            heartbeat=args.heartbeat)
        jobs.append(agent.serve(client, cfg, stop))
    try:
        await asyncio.gather(*jobs)
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.node and not args.cluster_services:
        print("nothing to run: give --node NAME and/or --cluster-services", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s [{args.node or 'cluster'}] %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
