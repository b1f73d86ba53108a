"""The multi-edge example's own manifests on the single-machine cluster (``sedna local``): the GM turns the
FeatureExtractionService, VideoAnalyticsJob and ReidJob into processes running this folder's workers, which
talk through the cluster's Service proxy and share a hostPath folder. Checked: the injected env, both jobs
Succeeded, the target re-identified in exactly the frames it is in, the shared folder consumed.

The whole file is applied at once: the detector and the feature extractor each need the other's Service, which
the pods resolve when they connect (the cluster's Service name table), and the workers wait for each other.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from support_procs import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "multi_edge_inference"
NODE = "node-a"
NS = "default"
FRAMES = 20  # the target is in frames 0-15


wait_for = functools.partial(wait_for, interval=0.3)


class Cluster:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.http: httpx.Client | None = None

    def sedna(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                               str(self.data_dir), *args], capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=REPO)

    def up(self) -> None:
        res = self.sedna("up", "--nodes", NODE, "--image-map", str(EXAMPLE / "local-images.yaml"),
                         "--cluster-cidr", f"127.{random.randint(100, 199)}.0.0/16", "--lc-port", str(free_port()),
                         timeout=180)
        assert res.returncode == 0, res.stdout + res.stderr
        state = json.loads((self.data_dir / "state.json").read_text())
        self.http = httpx.Client(base_url=state["url"], timeout=30, headers={"Authorization": "Bearer sedna-local"})

    def apply(self, docs: list[dict], path: Path) -> None:
        path.write_text(yaml.safe_dump_all(docs))
        res = self.sedna("apply", "-f", str(path))
        assert res.returncode == 0, res.stdout + res.stderr

    def pods(self, prefix: str) -> list[dict]:
        items = self.http.get(f"/api/v1/namespaces/{NS}/pods").json()["items"]
        return [p for p in items if p["metadata"]["name"].startswith(prefix)]

    def phase(self, pod: dict) -> str:
        return (pod.get("status") or {}).get("phase", "")

    def job_phase(self, plural: str, name: str) -> str:
        r = self.http.get(f"/apis/sedna.io/v1alpha1/namespaces/{NS}/{plural}/{name}")
        return ((r.json().get("status") or {}).get("phase") or "") if r.status_code == 200 else ""

    def logs(self, pod: dict) -> str:
        return self.sedna("logs", pod["metadata"]["name"]).stdout

    def down(self) -> None:
        if self.http is not None:
            self.http.close()
        self.sedna("down", timeout=120)


def env_of(pod: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in pod["spec"]["containers"][0].get("env") or []}


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "cluster")
    try:
        yield c
    finally:
        c.down()


def test_example_manifests_on_the_single_machine_cluster(cluster, tmp_path):
    cluster.up()
    data = cluster.data_dir / "nodes" / NODE / "multi_edge"
    prep = subprocess.run([sys.executable, "prepare.py", "--out", str(data), "--frames", str(FRAMES)], cwd=EXAMPLE,
                          capture_output=True, text=True, timeout=120, check=False)
    assert prep.returncode == 0, prep.stderr
    truth = json.loads((data / "truth.json").read_text())

    docs = list(yaml.safe_load_all((EXAMPLE / "multi_edge_inference.yaml").read_text()))
    cluster.apply(docs, tmp_path / "all.yaml")            # one apply: the workers wait for each other

    wait_for(lambda: cluster.job_phase("reidjobs", "reid") == "Succeeded", 150, "the ReidJob to succeed")
    assert cluster.job_phase("videoanalyticsjobs", "video-analytics") == "Succeeded"
    fe_env = env_of(cluster.pods("feature-extraction-")[0])
    assert fe_env["SERVICE_NAME"] == "feature-extraction" and fe_env["MODEL_URL"].endswith("fe.json")
    va_pod = cluster.pods("video-analytics-")[0]
    va_env = env_of(va_pod)
    assert va_env["JOB_NAME"] == "video-analytics" and va_env["MODEL_NAME"] == "multi-edge-detector"
    va_log = cluster.logs(va_pod)
    summary = json.loads(va_log.strip().splitlines()[-1])
    assert summary == {"frames": FRAMES, "dropped": 0, "results_received": FRAMES}, va_log[-2000:]

    records = [json.loads(line) for line in (data / "reid_results.jsonl").read_text().splitlines()]
    assert sorted(r["frame_index"] for r in records) == [i for i in range(FRAMES) if "target" in truth[str(i)]]
    for r in records:
        assert r["userID"] == "alice" and r["box"] == truth[str(r["frame_index"])]["target"]
    assert not list((data / "shared").glob("*.dat"))
