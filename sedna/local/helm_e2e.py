"""``sedna local helm-e2e``: the real-cluster install path, proven on one machine.

1. ``sedna local up --bare``: API server and node agents only; ``edge-node`` carries KubeEdge's edge label
   ``node-role.kubernetes.io/edge``. No built-in GM, LCs or CRDs.
2. The Helm chart is rendered by Helm's own engine and applied (:mod:`sedna.local.chart`): CRDs, RBAC,
   ConfigMap, token Secret, the GM Deployment and the LC DaemonSet. The node agents run the chart's images
   ``sedna/gm`` and ``sedna/lc`` through the built-in image map, with the manifests' args, env, ports and
   volumes; the DaemonSet puts an LC on the edge node (host network), the Deployment the GM on the cloud node.
   Only single-machine values are set: bind addresses (every pod here shares the host's port space) and the
   LC port.
3. The joint-inference example (examples/joint_inference/helmet_detection) runs through that GM and that LC:
   models placed on the nodes, the manifest applied, frames fed once the cloud worker is ready, until the CR's
   ``status.metrics`` show every frame inferred and as many hard examples as the edge worker wrote.

The decisions (values for this mode, whether the run is done) are pure functions; :func:`run` does the I/O.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sedna.api.yamlio import load_all
from sedna.common.tokens import node_token
from sedna.local import chart as charts
from sedna.local import state as st
from sedna.local.client import Client, ClientError

log = logging.getLogger(__name__)

EDGE_LABEL = "node-role.kubernetes.io/edge"
NODES = f"cloud-node,edge-node:{EDGE_LABEL}="
JI_NAME = "helmet-detection-inference-example"
JI_LABEL = f"jointinferenceservice.sedna.io/name={JI_NAME}"
JI_PATH = f"/apis/sedna.io/v1alpha1/namespaces/default/jointinferenceservices/{JI_NAME}"


@dataclass
class Options:
    data_dir: Path
    chart: Path
    example: Path
    namespace: str = "sedna"
    frames: int = 8
    timeout: float = 240.0
    cluster_cidr: str = "127.20.0.0/16"
    lc_port: int = 9100
    keep: bool = False
    set_values: tuple[str, ...] = ()


class E2EError(RuntimeError):
    """A step did not reach its goal in time; the message says which and where the logs are."""


def single_machine_values(lc_port: int) -> dict[str, Any]:
    """The only values this mode changes: pods share the host's port space here, so the GM binds its pod IP
    and each LC its node's address; the LC port is the one ``up --lc-port`` told the node agents."""
    return {"gm": {"bindAddress": "$(POD_IP)"}, "lc": {"bindAddress": "$(HOST_IP)", "bindPort": lc_port}}


def workloads_ready(deployment: dict[str, Any] | None, daemonset: dict[str, Any] | None) -> str:
    """'' when the GM Deployment is available and every LC of the DaemonSet is ready, else what is missing."""
    dst = (deployment or {}).get("status") or {}
    if not dst.get("availableReplicas"):
        return "GM deployment not available yet"
    sst = (daemonset or {}).get("status") or {}
    want, ready = sst.get("desiredNumberScheduled", 0), sst.get("numberReady", 0)
    if not want:
        return "LC daemonset has no node to run on yet"
    if ready < want:
        return f"LC daemonset: {ready}/{want} ready"
    return ""


def metrics(service: dict[str, Any] | None) -> dict[str, str]:
    return {m["key"]: m["value"] for m in ((service or {}).get("status") or {}).get("metrics") or []}


def ji_outcome(service: dict[str, Any] | None, frames: int, written: int, hard_written: int) -> str:
    """'done' once every frame was written and the CR reports them all with the hard-example count the edge
    worker wrote; 'failed' when the service failed; else 'running'."""
    conditions = ((service or {}).get("status") or {}).get("conditions") or []
    if conditions and conditions[-1].get("type") == "Failed":
        return "failed"
    m = metrics(service)
    if written >= frames and int(m.get("inferenceNumber", 0)) >= frames \
            and int(m.get("hardExampleNumber", -1)) == hard_written:
        return "done"
    return "running"


def _say(text: str) -> None:
    print(text, flush=True)


def _wait(what: str, check, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        got, note = check()
        if got:
            return got
        if note != last:
            _say(f"   ... {note}")
            last = note
        if time.monotonic() > deadline:
            raise E2EError(f"{what}: not reached within {timeout:.0f} s ({note})")
        time.sleep(every)


def _sedna(opts: Options, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                           str(opts.data_dir), *args], text=True, check=False)


def _image_map(opts: Options) -> Path:
    """The example's image map with absolute host paths (the built-in map already has sedna's images)."""
    doc = yaml.safe_load((opts.example / "local-images.yaml").read_text()) or {}
    for entry in (doc.get("images") or {}).values():
        entry["paths"] = {c: str((opts.example / h).resolve()) for c, h in (entry.get("paths") or {}).items()}
    out = opts.data_dir / "helm-e2e-images.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def _prepare(opts: Options) -> Path:
    prep = opts.data_dir / "prepared"
    if not (prep / "models" / "big_model.npz").exists():
        subprocess.run([sys.executable, "prepare.py", "--out", str(prep), "--frames", str(opts.frames)],
                       cwd=opts.example, check=True, stdout=subprocess.DEVNULL)
    return prep


def _get(client: Client, path: str) -> dict[str, Any] | None:
    resp = client.request("GET", path)
    return resp.json() if resp.status_code == 200 else None


def provision_node_tokens(data_dir: Path, nodes: list[str], secret: str) -> None:
    """What an operator does on each node before the chart's LC can join (docs/install.md): write the node's
    own token (``sedna gm node-token NODE``) to ``/var/lib/sedna/node-token``, readable by root only."""
    for node in nodes:
        path = data_dir / "nodes" / node / "var" / "lib" / "sedna" / "node-token"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(node_token(secret, node) + "\n")
        path.chmod(0o600)


def _install(opts: Options, client: Client) -> None:
    # The GM secret is chosen here (instead of generated by the chart) so each node can be given its token.
    secret = secrets.token_hex(20)
    values = charts.merge_values(charts.merge_values(single_machine_values(opts.lc_port),
                                                     {"channelToken": {"value": secret}}),
                                 charts.parse_set(list(opts.set_values)))
    provision_node_tokens(opts.data_dir, [n.split(":")[0] for n in NODES.split(",")], secret)
    rendered = charts.render(opts.chart, values, release="sedna", namespace=opts.namespace)
    kinds = sorted({o["kind"] for o in rendered.manifests})
    _say(f"   rendered by Helm: {len(rendered.crds)} CRDs + {len(rendered.manifests)} objects ({', '.join(kinds)})")
    for what, result in charts.install(client, rendered, opts.namespace):
        _say(f"   {what} {result}")
    ns = opts.namespace

    def ready():
        note = workloads_ready(_get(client, f"/apis/apps/v1/namespaces/{ns}/deployments/gm"),
                               _get(client, f"/apis/apps/v1/namespaces/{ns}/daemonsets/lc"))
        return (not note), note or "ready"
    _wait("GM and LCs from the chart", ready, opts.timeout)
    pods = client.json("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
    for pod in pods:
        owner = ((pod["metadata"].get("ownerReferences") or [{}])[0]).get("kind")
        _say(f"   {pod['metadata']['name']:<24} {owner:<11} on {pod['spec'].get('nodeName')} "
             f"({pod['status'].get('podIP')}, image {pod['spec']['containers'][0]['image']})")


def _joint_inference(opts: Options, client: Client, prep: Path) -> dict[str, Any]:
    nodes = opts.data_dir / "nodes"
    edge, cloud = nodes / "edge-node" / "joint_inference", nodes / "cloud-node" / "joint_inference"
    for d in (edge / "models", cloud / "models", edge / "video"):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copy(prep / "models" / "little_model.npz", edge / "models")
    shutil.copy(prep / "models" / "big_model.npz", cloud / "models")
    for doc in load_all((opts.example / "helmet_detection_inference.yaml").read_text()):
        if doc:
            client.apply(doc, "default")

    def cloud_ready():
        pods = client.json("GET", "/api/v1/namespaces/default/pods", params={"labelSelector": JI_LABEL})["items"]
        ready = [p for p in pods if p["spec"].get("nodeName") == "cloud-node" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or [])]
        return bool(ready), f"{len(pods)} worker pods, cloud worker not ready yet"
    _wait("the cloud worker", cloud_ready, opts.timeout)
    frames = sorted((prep / "frames").glob("*.npy"))[:opts.frames]
    _say(f"   cloud worker ready: feeding {len(frames)} frames to the edge worker")
    for frame in frames:
        shutil.copy(frame, edge / "video" / frame.name)
    out = edge / "output" / "output"

    def done():
        files = list(out.glob("*.json")) if out.is_dir() else []
        hard = sum(1 for f in files if json.loads(f.read_text())["is_hard_example"])
        svc = _get(client, JI_PATH)
        outcome = ji_outcome(svc, len(frames), len(files), hard)
        if outcome == "failed":
            raise E2EError("the JointInferenceService failed: "
                           + json.dumps(((svc or {}).get("status") or {}).get("conditions")))
        m = metrics(svc)
        return (svc if outcome == "done" else None), (
            f"{len(files)}/{len(frames)} frames written ({hard} hard); CR reports inference "
            f"{m.get('inferenceNumber', 0)}, hard examples {m.get('hardExampleNumber', 0)}")
    return _wait("the JI example's counts in its CR", done, opts.timeout)


def _print_logs_hint(opts: Options) -> None:
    logs = opts.data_dir / "logs"
    for pattern in (f"{opts.namespace}_gm-*_gm.log", f"{opts.namespace}_lc-*_lc.log"):
        for path in sorted(logs.glob(pattern)):
            _say(f"--- last lines of {path}")
            _say("\n".join(path.read_text(errors="replace").splitlines()[-15:]))


def run(opts: Options) -> int:
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    started = False
    try:
        _say("==> 1/4 preparing the example's models and frames")
        prep = _prepare(opts)
        _say(f"==> 2/4 sedna local up --bare (data dir {opts.data_dir})")
        if st.read_state(opts.data_dir) and st.alive(st.read_state(opts.data_dir).get("supervisor")):
            raise E2EError(f"a cluster already runs in {opts.data_dir}; use another directory or take it down")
        up = _sedna(opts, "up", "--bare", "--nodes", NODES, "--image-map", str(_image_map(opts)),
                    "--cluster-cidr", opts.cluster_cidr, "--lc-port", str(opts.lc_port))
        started = True
        if up.returncode != 0:
            raise E2EError("the cluster did not come up")
        state = st.read_state(opts.data_dir) or {}
        from sedna.local.main import _state_client

        client = _state_client(state)
        try:
            _say(f"==> 3/4 helm install sedna {opts.chart} -n {opts.namespace} (Helm's engine, applied here)")
            _install(opts, client)
            _say("==> 4/4 the joint-inference example through the chart's GM and LC")
            svc = _joint_inference(opts, client, prep)
        finally:
            client.close()
        m = metrics(svc)
        _say(f"jointinferenceservice/{JI_NAME}: inferenceNumber {m.get('inferenceNumber')}, "
             f"hardExampleNumber {m.get('hardExampleNumber')}, uploadCloudRatio "
             f"{float(m.get('uploadCloudRatio', 0)):.3f}")
        _say("helm-e2e: OK")
        return 0
    except (E2EError, ClientError, charts.ChartError, subprocess.CalledProcessError) as exc:
        _say(f"helm-e2e: FAILED: {exc}")
        _print_logs_hint(opts)
        return 1
    finally:
        if started and not opts.keep:
            _sedna(opts, "down")
        elif started:
            _say(f"the cluster is still up: export KUBECONFIG={opts.data_dir / 'kubeconfig'}; "
                 f"take it down with: sedna local --data-dir {opts.data_dir} down")
