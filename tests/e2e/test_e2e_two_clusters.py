"""Two single-machine clusters side by side, started with the defaults (no --cluster-cidr, the same LC port):
each gets its own address range, both run the joint-inference example, and each CR counts only its own frames.

Before, the second cluster took the same 127.20.0.0/16: its LCs could not bind and its workers reported to the
first cluster's LCs (silent cross-talk)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import httpx
import pytest
import yaml
from e2e_ji_support import EXAMPLE, wait_for
from test_e2e_joint_inference import NAME, NS, LocalCluster, all_outputs, example_docs, reported

from sedna.local.apiserver import kubeconfig_token

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


class DefaultCluster(LocalCluster):
    """``sedna local up`` with the defaults for the address range and the LC port."""

    def up(self) -> None:
        res = self.sedna("up", "--nodes", "cloud-node,edge-node", "--image-map", str(EXAMPLE / "local-images.yaml"),
                         timeout=180)
        assert res.returncode == 0, res.stdout + res.stderr
        self.state = json.loads((self.data_dir / "state.json").read_text())
        self.remember_components()
        self.http = httpx.Client(base_url=self.state["url"], timeout=30,
                                 headers={"Authorization": f"Bearer {kubeconfig_token(self.state['kubeconfig'])}"})


@pytest.fixture
def two(tmp_path):
    clusters = [DefaultCluster(tmp_path / "a"), DefaultCluster(tmp_path / "b")]
    try:
        yield clusters
    finally:
        for c in clusters:
            c.down()


def test_two_clusters_run_the_example_with_separate_counts(two, tmp_path):
    staging = tmp_path / "prepared"
    prep = subprocess.run([sys.executable, "prepare.py", "--out", str(staging), "--frames", "6",
                           "--train-frames", "10"], cwd=EXAMPLE, capture_output=True, text=True, timeout=120,
                          check=False)
    assert prep.returncode == 0, prep.stderr
    frames = sorted((staging / "frames").glob("*.npy"))
    for cluster in two:
        cluster.up()
    a, b = two
    assert a.state["cluster_cidr"] != b.state["cluster_cidr"]
    assert a.state["controllers"]["lc_port"] == b.state["controllers"]["lc_port"]      # same port, own addresses
    status = b.sedna("status")
    assert status.returncode == 0 and "lc/edge-node" in status.stdout, status.stdout

    manifest = tmp_path / "ji.yaml"
    manifest.write_text(yaml.safe_dump_all(example_docs(period="1", poll="0.5")))
    for cluster in two:
        for node, model in (("edge-node", "little_model.npz"), ("cloud-node", "big_model.npz")):
            folder = cluster.node_root(node) / "joint_inference" / "models"
            folder.mkdir(parents=True)
            shutil.copy(staging / "models" / model, folder / model)
        (cluster.node_root("edge-node") / "joint_inference" / "video").mkdir(parents=True)
        res = cluster.sedna("apply", "-f", str(manifest))
        assert res.returncode == 0, res.stdout + res.stderr

    def cloud_serves(cluster):
        svc = cluster.get(f"/api/v1/namespaces/{NS}/services/{NAME}-cloud")
        if not svc:
            return False
        try:
            # it answers; without the service token the GM injected into the workers that is a 401
            return httpx.get(f"http://{svc['spec']['clusterIP']}:5000/{NAME}", timeout=2).status_code in (200, 401)
        except httpx.HTTPError:
            return False

    fed = {id(a): frames[:4], id(b): frames[4:6]}
    for cluster in two:
        wait_for(lambda c=cluster: cloud_serves(c), 90, "the big model to answer through the cloud Service")
        video = cluster.node_root("edge-node") / "joint_inference" / "video"
        for frame in fed[id(cluster)]:
            shutil.copy(frame, video / frame.name)
    for cluster in two:
        count = len(fed[id(cluster)])
        out = cluster.node_root("edge-node") / "joint_inference" / "output"
        results, _, _ = wait_for(lambda c=count, o=out: all_outputs(o, c), 90, f"outputs of {count} frames")
        hard = sum(1 for doc in results.values() if doc["is_hard_example"])
        wait_for(lambda c=cluster, n=count, h=hard: reported(c, n, h, 0), 60, "the counters in the CR status")
        st = cluster.service()["status"]
        assert st["conditions"][-1]["type"] == "Running" and st["active"] == 2 and st["failed"] == 0
    # each cluster's edge worker reported to its own LC: the counts differ as the frames fed did
    assert a.metrics()["inferenceNumber"] == "4" and b.metrics()["inferenceNumber"] == "2"
