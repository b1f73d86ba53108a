"""End to end on one machine: the helmet-detection JointInferenceService through the whole stack.

``sedna local up`` starts the API emulator, the process runtime (one agent per node), the GM and one LC per
node; the example's own YAML is applied with the example's image map, so the GM's Deployments become real
``little_model.py`` / ``big_model.py`` processes. Everything is real: frames from the example's generator,
cloud calls through the service proxy, LC reports into the CR status. Checked:

- pods on the nodes the YAML names, with the env the GM injects (and the runtime's rewrites in the process);
- edge results for easy frames, cloud results for hard frames, one output file per frame;
- the CR's ``status.metrics`` equal to the frames processed;
- the cloud worker killed mid-run: the edge keeps answering and the counters show the failed offloads;
- the restarted cloud worker answers hard frames again;
- deleting the service removes its pods and kills their processes; ``sedna local down`` leaves nothing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from e2e_ji_support import EXAMPLE, REPO, free_port, running, wait_for

from sedna.local.apiserver import kubeconfig_token

pytestmark = [pytest.mark.timeout(240)]

NAME = "helmet-detection-inference-example"
NS = "default"
FRAMES, FIRST_BATCH, SECOND_BATCH = 16, 6, 12        # frames; the 3rd batch comes after the cloud is back
LABEL = f"jointinferenceservice.sedna.io/name={NAME}"


class LocalCluster:
    """``sedna local`` on a private data dir and cluster CIDR, plus read access to its API and files."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.cidr = f"127.{random.randint(30, 99)}.0.0/16"
        self.lc_port = free_port()
        self.state: dict = {}
        self.http: httpx.Client | None = None
        self.components: set[tuple[int, str]] = set()   # (pid, start time) of supervisor, API server, GM, ...
        self.pod_procs: set[tuple[int, str]] = set()    # every worker process this test saw

    def sedna(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                               str(self.data_dir), *args], capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=REPO)

    def up(self) -> None:
        res = self.sedna("up", "--nodes", "cloud-node,edge-node", "--image-map",
                         str(EXAMPLE / "local-images.yaml"), "--cluster-cidr", self.cidr,
                         "--lc-port", str(self.lc_port), timeout=180)
        assert res.returncode == 0, res.stdout + res.stderr
        self.state = json.loads((self.data_dir / "state.json").read_text())
        assert (self.state.get("controllers") or {}).get("enabled"), self.state.get("controllers")
        self.remember_components()
        self.http = httpx.Client(base_url=self.state["url"], timeout=30,
                                 headers={"Authorization": f"Bearer {kubeconfig_token(self.state['kubeconfig'])}"})

    def remember_components(self) -> None:
        records = [self.state["supervisor"], *self.state["children"].values()]
        self.components |= {(int(r["pid"]), str(r["start"])) for r in records if r.get("pid")}

    def down(self) -> subprocess.CompletedProcess:
        if self.http is not None:
            self.http.close()
            self.http = None
        return self.sedna("down", timeout=120)

    def node_root(self, node: str) -> Path:
        return self.data_dir / "nodes" / node

    def node_address(self, node: str) -> str:
        return next(n["address"] for n in self.state["nodes"] if n["name"] == node)

    # API reads
    def get(self, path: str) -> dict | None:
        r = self.http.get(path)
        return r.json() if r.status_code == 200 else None

    def service(self) -> dict | None:
        return self.get(f"/apis/sedna.io/v1alpha1/namespaces/{NS}/jointinferenceservices/{NAME}")

    def pods(self) -> list[dict]:
        return self.http.get(f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": LABEL}).json()["items"]

    def metrics(self) -> dict[str, str]:
        st = (self.service() or {}).get("status") or {}
        return {m["key"]: m["value"] for m in st.get("metrics") or []}

    def lc_resources(self, node: str) -> set[str]:
        """Keys of the objects the node's LC holds (its SQLite store, at upstream's path under the node root)."""
        db = self.node_root(node) / "var" / "lib" / "sedna" / "database.db"
        if not db.exists():
            return set()
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return {row[0] for row in con.execute("SELECT name FROM resources")}
        except sqlite3.OperationalError:        # the LC has not created its tables yet
            return set()
        finally:
            con.close()

    # pod processes, from the runtime's pid files
    def pod_process(self, pod: dict, container: str) -> tuple[int, str] | None:
        node, uid = pod["spec"]["nodeName"], pod["metadata"]["uid"]
        pidfile = self.node_root(node) / "var" / "lib" / "kubelet" / "pods" / uid / "containers" / f"{container}.pid"
        try:
            pid, stamp = pidfile.read_text().split()
        except (OSError, ValueError):
            return None
        record = (int(pid), stamp)
        if running(record):
            self.pod_procs.add(record)
            return record
        return None


def proc_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def env_of(pod: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in pod["spec"]["containers"][0].get("env") or []}


def example_docs(period: str, poll: str) -> list[dict]:
    """The example's YAML as shipped, with a faster report period and frame poll for the test."""
    docs = [d for d in yaml.safe_load_all((EXAMPLE / "helmet_detection_inference.yaml").read_text()) if d]
    ji = next(d for d in docs if d["kind"] == "JointInferenceService")
    env = ji["spec"]["edgeWorker"]["template"]["spec"]["containers"][0]["env"]
    for item in env:
        if item["name"] == "LC_PERIOD":
            item["value"] = period
        if item["name"] == "poll_interval":
            item["value"] = poll
    return docs


def read_outputs(out: Path, sub: str) -> dict[str, dict]:
    folder = out / sub
    if not folder.is_dir():
        return {}
    docs = {}
    for path in folder.glob("*.json"):
        try:
            docs[path.stem] = json.loads(path.read_text())
        except ValueError:          # written atomically by the worker; cannot be partial
            raise AssertionError(f"unreadable output {path}") from None
    return docs


def all_outputs(out: Path, count: int):
    """``(results, edge answers, cloud answers)`` once ``count`` frames have all their files, else None.

    The worker writes a frame's result first and then, for a hard frame, the edge and the cloud answers."""
    results = read_outputs(out, "output")
    edge = read_outputs(out, "hard_example_edge_inference_output")
    cloud = read_outputs(out, "hard_example_cloud_inference_output")
    hard = {name for name, doc in results.items() if doc["is_hard_example"]}
    if len(results) == count and hard <= set(edge) and hard <= set(cloud):
        return results, edge, cloud
    return None


def reported(cluster: LocalCluster, inferences: int, hard: int, failed: int) -> dict[str, str] | None:
    """The CR's metrics once they show these counts (a report may be taken between two counter updates)."""
    m = cluster.metrics()
    want = {"inferenceNumber": str(inferences), "hardExampleNumber": str(hard), "failedOffloadNumber": str(failed)}
    return m if all(m.get(k) == v for k, v in want.items()) else None


# ---- the test -----------------------------------------------------------------------------------------

@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(tmp_path / "cluster")
    try:
        yield c
    finally:
        c.down()


def test_joint_inference_service_end_to_end(cluster, tmp_path):
    # data and models from the example's own generator (seeded; nothing downloaded)
    staging = tmp_path / "prepared"
    prep = subprocess.run([sys.executable, "prepare.py", "--out", str(staging), "--frames", str(FRAMES),
                           "--train-frames", "10"], cwd=EXAMPLE, capture_output=True, text=True, timeout=120,
                          check=False)
    assert prep.returncode == 0, prep.stderr
    frames = sorted((staging / "frames").glob("*.npy"))
    assert len(frames) == FRAMES

    cluster.up()
    edge_root, cloud_root = cluster.node_root("edge-node"), cluster.node_root("cloud-node")
    for root, model in ((edge_root, "little_model.npz"), (cloud_root, "big_model.npz")):
        (root / "joint_inference" / "models").mkdir(parents=True)
        shutil.copy(staging / "models" / model, root / "joint_inference" / "models" / model)
    video = edge_root / "joint_inference" / "video"
    video.mkdir(parents=True)         # the camera: frames arrive once the cloud serves (see below)

    manifest = tmp_path / "ji.yaml"
    manifest.write_text(yaml.safe_dump_all(example_docs(period="1", poll="0.5")))
    res = cluster.sedna("apply", "-f", str(manifest))
    assert res.returncode == 0, res.stdout + res.stderr

    # ---- pods on the right nodes, Running, with the injected env ----
    def both_running():
        pods = cluster.pods()
        if len(pods) == 2 and all((p.get("status") or {}).get("phase") == "Running" for p in pods):
            return pods
        return None
    pods = wait_for(both_running, 60, "two Running worker pods")
    by_type = {p["metadata"]["labels"]["jointinferenceservice.sedna.io/worker-type"]: p for p in pods}
    edge, cloud = by_type["edge"], by_type["cloud"]
    assert edge["spec"]["nodeName"] == "edge-node"
    assert cloud["spec"]["nodeName"] == "cloud-node"
    edge_env, cloud_env = env_of(edge), env_of(cloud)
    for env in (edge_env, cloud_env):
        assert env["NAMESPACE"] == NS and env["SERVICE_NAME"] == NAME
    assert edge_env["WORKER_NAME"].startswith("edgeworker-")
    assert cloud_env["WORKER_NAME"].startswith("cloudworker-")
    assert edge_env["BIG_MODEL_IP"] == f"{NAME}-cloud.{NS}"
    assert edge_env["BIG_MODEL_PORT"] == "5000" and cloud_env["BIG_MODEL_BIND_PORT"] == "5000"
    assert edge_env["HEM_NAME"] == "IBT"
    assert {p["key"]: p["value"] for p in json.loads(edge_env["HEM_PARAMETERS"])} == \
        {"threshold_img": "0.9", "threshold_box": "0.9"}
    assert "LC_SERVER" in edge_env and "LC_SERVER" not in cloud_env
    assert edge_env["MODEL_URL"] == "/home/data/joint_inference/models/little_model.npz"
    assert cloud_env["MODEL_URL"] == "/home/data/joint_inference/models/big_model.npz"
    for pod in (edge, cloud):       # the model's folder: a hostPath volume at /home/data/<folder> (gm.md §3.1)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
        model_vols = [n for n, v in volumes.items()
                      if (v.get("hostPath") or {}).get("path") == "/joint_inference/models"]
        assert len(model_vols) == 1 and mounts[model_vols[0]] == "/home/data/joint_inference/models"
        assert env_of(pod)["DATA_PATH_PREFIX"] == "/home/data"
    # the GM pushes the service to the LC of the edge worker's node only
    key = f"{NS}/jointinferenceservice/{NAME}"
    wait_for(lambda: key in cluster.lc_resources("edge-node"), 30, "the service in the edge LC's store")
    assert key not in cluster.lc_resources("cloud-node")
    svc = cluster.get(f"/api/v1/namespaces/{NS}/services/{NAME}-cloud")
    assert svc is not None and [p["port"] for p in svc["spec"]["ports"]] == [5000]

    # ... and what the processes really got: the node's LC, the service's ClusterIP, the model on the node
    edge_proc = wait_for(lambda: cluster.pod_process(edge, "little-model"), 30, "edge worker process")
    cloud_proc = wait_for(lambda: cluster.pod_process(cloud, "big-model"), 30, "cloud worker process")
    penv = proc_env(edge_proc[0])
    assert penv["LC_SERVER"] == f"http://{cluster.node_address('edge-node')}:{cluster.lc_port}"
    assert penv["BIG_MODEL_IP"] == svc["spec"]["clusterIP"]
    assert Path(penv["MODEL_URL"]).resolve().read_bytes() == \
        (edge_root / "joint_inference" / "models" / "little_model.npz").read_bytes()
    assert Path(proc_env(cloud_proc[0])["MODEL_URL"]).resolve().read_bytes() == \
        (cloud_root / "joint_inference" / "models" / "big_model.npz").read_bytes()

    # the cloud pod turns Ready (readiness probe) and serves through the Service's ClusterIP, to its token only
    cloud_env = proc_env(cloud_proc[0])
    assert cloud_env["SEDNA_INFERENCE_TOKEN"] == penv["SEDNA_INFERENCE_TOKEN"]
    def cloud_serves():
        try:
            r = httpx.get(f"http://{svc['spec']['clusterIP']}:5000/{NAME}", timeout=2, headers={
                "Authorization": f"Bearer {cloud_env['SEDNA_INFERENCE_TOKEN']}"})   # the service's own token
        except httpx.HTTPError:
            return False
        return r.status_code == 200
    wait_for(cloud_serves, 60, "the big model to answer through the cloud Service")
    cloud = next(p for p in cluster.pods() if p["spec"]["nodeName"] == "cloud-node")
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in cloud["status"]["conditions"])

    # ---- first batch: every frame answered; easy on the edge, hard by the cloud; counters match ----
    for frame in frames[:FIRST_BATCH]:
        shutil.copy(frame, video / frame.name)
    out = edge_root / "joint_inference" / "output"
    results, edge_out, cloud_out = wait_for(lambda: all_outputs(out, FIRST_BATCH), 60,
                                            f"outputs of {FIRST_BATCH} frames")
    assert sorted(results) == sorted(f.stem for f in frames[:FIRST_BATCH])
    hard1 = {name for name, doc in results.items() if doc["is_hard_example"]}
    wait_for(lambda: reported(cluster, FIRST_BATCH, len(hard1), 0), 60, "the counters in the CR status")
    assert set(cloud_out) == hard1 and set(edge_out) == hard1
    for name, doc in results.items():
        if name in hard1:
            assert cloud_out[name]["result"] is not None, f"{name}: hard frame without a cloud answer"
            assert doc["result"] == cloud_out[name]["result"]
        else:
            assert doc["result"], f"{name}: easy frame without an edge result"
    m = cluster.metrics()
    assert float(m["uploadCloudRatio"]) == pytest.approx(len(hard1) / FIRST_BATCH)
    st = cluster.service()["status"]
    assert st["conditions"][-1]["type"] == "Running" and st["active"] == 2 and st["failed"] == 0

    # ---- the cloud worker is killed mid-run: the edge keeps answering, failed offloads are counted ----
    cloud = next(p for p in cluster.pods() if p["spec"]["nodeName"] == "cloud-node")
    cloud_proc = wait_for(lambda: cluster.pod_process(cloud, "big-model"), 30, "the serving cloud worker")
    os.killpg(cloud_proc[0], signal.SIGKILL)
    wait_for(lambda: not running(cloud_proc), 10, "the cloud worker to die")
    for frame in frames[FIRST_BATCH:SECOND_BATCH]:
        shutil.copy(frame, video / frame.name)
    results, edge_out, cloud_out = wait_for(lambda: all_outputs(out, SECOND_BATCH), 60,
                                            f"outputs of {SECOND_BATCH} frames")
    assert sorted(results) == sorted(f.stem for f in frames[:SECOND_BATCH])
    batch2 = {f.stem for f in frames[FIRST_BATCH:SECOND_BATCH]}
    hard2 = {name for name in batch2 if results[name]["is_hard_example"]}
    failed = {name for name in hard2 if cloud_out[name]["result"] is None}
    assert failed, "no hard frame of the second batch noticed the dead cloud worker"
    for name in failed:
        # the edge answered with its own result, post-processed (boxes under obj_threshold 0.3 dropped, class
        # names added) as little_model.py does for every edge answer
        assert [box[:6] for box in results[name]["result"]] == \
            [box for box in edge_out[name]["result"] if box[4] >= 0.3]
    easy = set(results) - hard1 - hard2
    assert easy, "the frames gave no easy example: the edge-only path was not exercised"
    for name in easy:
        assert name not in cloud_out and name not in edge_out and results[name]["result"]
    m = wait_for(lambda: reported(cluster, SECOND_BATCH, len(hard1) + len(hard2), len(failed)), 60,
                 "the counters in the CR status")
    assert float(m["uploadCloudRatio"]) == pytest.approx((len(hard1) + len(hard2)) / SECOND_BATCH)
    # the kubelet noticed and restarts the cloud container with back-off
    wait_for(lambda: any(cs.get("restartCount", 0) >= 1 or (cs.get("state") or {}).get("waiting")
                         or (cs.get("lastState") or {}).get("terminated")
                         for p in cluster.pods() if p["spec"]["nodeName"] == "cloud-node"
                         for cs in (p.get("status") or {}).get("containerStatuses") or []),
             30, "the cloud pod to show the killed container")

    # ---- the restarted cloud worker (kubelet back-off ~10 s) answers the hard frames again ----
    wait_for(cloud_serves, 60, "the restarted big model to answer through the cloud Service")
    for frame in frames[SECOND_BATCH:]:
        shutil.copy(frame, video / frame.name)
    results, edge_out, cloud_out = wait_for(lambda: all_outputs(out, FRAMES), 60, f"outputs of {FRAMES} frames")
    assert sorted(results) == sorted(f.stem for f in frames)
    hard3 = {f.stem for f in frames[SECOND_BATCH:] if results[f.stem]["is_hard_example"]}
    assert hard3, "the last batch has no hard frame: the recovery was not exercised"
    for name in hard3:
        assert cloud_out[name]["result"] is not None, f"{name}: the restarted cloud did not answer"
        assert results[name]["result"] == cloud_out[name]["result"]
    hard_total = len(hard1) + len(hard2) + len(hard3)
    m = wait_for(lambda: reported(cluster, FRAMES, hard_total, len(failed)), 60, "the counters in the CR status")
    assert float(m["uploadCloudRatio"]) == pytest.approx(hard_total / FRAMES)
    restarted = next(p for p in cluster.pods() if p["spec"]["nodeName"] == "cloud-node")
    assert restarted["status"]["containerStatuses"][0]["restartCount"] >= 1

    # ---- deleting the service removes its pods and their processes ----
    edge_pod_dir = edge_root / "var" / "lib" / "kubelet" / "pods" / edge["metadata"]["uid"]
    for pod in cluster.pods():
        cluster.pod_process(pod, pod["spec"]["containers"][0]["name"])   # remember a restarted cloud worker
    res = cluster.sedna("delete", "jointinferenceservice", NAME)
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: cluster.service() is None, 30, "the JointInferenceService to be gone")
    wait_for(lambda: not cluster.pods(), 30, "the worker pods to be deleted")
    assert not cluster.http.get(f"/apis/apps/v1/namespaces/{NS}/deployments",
                                params={"labelSelector": LABEL}).json()["items"]
    wait_for(lambda: cluster.get(f"/api/v1/namespaces/{NS}/services/{NAME}-cloud") is None, 30,
             "the cloud Service to be deleted")
    wait_for(lambda: not [r for r in cluster.pod_procs if running(r)], 30, "every worker process to end")
    wait_for(lambda: key not in cluster.lc_resources("edge-node"), 30, "the service gone from the edge LC")
    wait_for(lambda: not list(edge_pod_dir.glob("containers/*.pid")), 30, "the edge pod's pid files to go")

    # ---- down: nothing this test saw keeps running ----
    cluster.remember_components()
    res = cluster.down()
    assert res.returncode == 0, res.stdout + res.stderr
    seen = cluster.components | cluster.pod_procs
    wait_for(lambda: not [r for r in seen if running(r)], 30, "every recorded process to end")
    assert not (cluster.data_dir / "state.json").exists()
