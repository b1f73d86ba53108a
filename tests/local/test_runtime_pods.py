"""The process runtime against the API emulator, with real processes: pod lifecycle, restarts, env, volumes,
init containers, deletion, services and the scheduler."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support_procs import wait_for

from sedna.local.runtime import netplan, procs

pytestmark = pytest.mark.timeout(120)

PY = sys.executable


class Cluster:
    def __init__(self, url: str, data_dir: Path, net: netplan.ClusterNet):
        self.url, self.data_dir, self.net = url, data_dir, net
        self.http = httpx.Client(base_url=url, timeout=10)
        self.procs: list[subprocess.Popen] = []

    def start_runtime(self, *args: str) -> subprocess.Popen:
        with open(self.data_dir / f"runtime-{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen([PY, "-m", "sedna.local.runtime", "--server", self.url, "--data-dir",
                                     str(self.data_dir), "--cluster-cidr", self.net.cidr, "--backoff-base", "0.3",
                                     "--backoff-max", "1.2", "--heartbeat", "2", *args],
                                    stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.http.close()

    # API helpers
    def create(self, path: str, obj: dict) -> dict:
        resp = self.http.post(path, json=obj)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def pod(self, name: str, ns: str = "default") -> dict | None:
        resp = self.http.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        return resp.json() if resp.status_code == 200 else None

    def wait(self, fn, timeout: float = 30.0, what: str = "condition"):
        return wait_for(fn, timeout, what)

    def wait_phase(self, name: str, phases: tuple[str, ...], timeout: float = 30.0) -> dict:
        def check():
            pod = self.pod(name)
            return pod if pod and (pod.get("status") or {}).get("phase") in phases else None
        try:
            return self.wait(check, timeout, f"pod {name} in {phases}")
        except AssertionError:
            raise AssertionError(f"pod {name} not in {phases}: {json.dumps(self.pod(name), indent=1)[-3000:]}"
                                 f"\nruntime logs:\n{self.runtime_logs()}") from None

    def runtime_logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.data_dir.glob("runtime-*.log")))

    def log(self, name: str, container: str | None = None) -> str:
        params = {"container": container} if container else None
        resp = self.http.get(f"/api/v1/namespaces/default/pods/{name}/log", params=params)
        assert resp.status_code == 200, resp.text
        return resp.text


@pytest.fixture
def cluster(apiserver):
    data_dir = Path(apiserver.data_dir)
    net = netplan.ClusterNet(random.randint(100, 250))
    c = Cluster(apiserver.url, data_dir, net)
    with socket.socket() as probe:          # a free port for a fake LC of node-b on node-b's address
        probe.bind((net.node_address(1), 0))
        c.lc_port_b = probe.getsockname()[1]
    c.lc_server_b = f"http://{net.node_address(1)}:{c.lc_port_b}"
    code = data_dir / "image-code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "app.py").write_text("import os, sys; print('app', os.getcwd(), sys.argv[1:], os.environ['GREETING'], "
                                 "os.path.isfile(os.environ['CODE']))")
    (data_dir / "images.yaml").write_text(
        "images:\n"
        "  example/app:\n"
        "    entrypoint: [python, app.py]\n"
        "    cmd: [--default]\n"
        "    workingDir: /home/work\n"
        "    env: {GREETING: hi, CODE: /home/work/app.py}\n"
        "    paths: {/home/work: image-code}\n")
    c.start_runtime("--node", "node-a", "--node-index", "0", "--cluster-services", "--labels", "role=cloud",
                    "--image-map", str(data_dir / "images.yaml"), "--pod-kubeconfig", str(data_dir / "pods.kubeconfig"))
    c.start_runtime("--node", "node-b", "--node-index", "1", "--labels", "role=edge",
                    "--lc-server", c.lc_server_b)

    def nodes_ready():
        items = c.http.get("/api/v1/nodes").json().get("items") or []
        ready = [n["metadata"]["name"] for n in items
                 if any(x["type"] == "Ready" and x["status"] == "True" for x in (n.get("status") or {}).get("conditions") or [])]
        return sorted(ready) == ["node-a", "node-b"]
    try:
        c.wait(nodes_ready, 30, "nodes ready")
        yield c
    finally:
        c.stop()


def pod_obj(name, command, *, node="node-a", policy="Never", labels=None, **spec):
    container = {"name": "main", "image": "python:3.11", "command": command}
    if command is None:
        container.pop("command")
    container.update(spec.pop("container", {}))
    body = {"restartPolicy": policy, "containers": [container], **spec}
    if node:
        body.setdefault("nodeSelector", {"kubernetes.io/hostname": node})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": body}


def pgid_of(status: dict) -> int:
    cid = status["containerStatuses"][0]["containerID"]
    assert cid.startswith("sedna-local://")
    return int(cid.rsplit("/", 1)[1])


def group_alive(pgid: int) -> bool:
    """A process group with a running (non-zombie) member; orphans are reaped slowly here, so zombies count
    as dead."""
    return bool(procs.group_members(pgid))


def test_pod_succeeds_and_fails_with_exit_codes(cluster):
    cluster.create("/api/v1/namespaces/default/pods",
                   pod_obj("ok", ["python", "-c", "import os; print('hello', os.environ['POD_IP'])"]))
    cluster.create("/api/v1/namespaces/default/pods",
                   pod_obj("bad", ["python", "-c", "import sys; print('dying'); sys.exit(3)"], node="node-b"))
    ok = cluster.wait_phase("ok", ("Succeeded",))
    status = ok["status"]
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert status["hostIP"] == cluster.net.node_address(0)
    assert status["podIP"].startswith(f"127.{cluster.net.octet}.16.")
    assert status["startTime"]
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds["PodScheduled"] == "True" and conds["Initialized"] == "True" and conds["Ready"] == "False"
    assert cluster.log("ok").strip() == f"hello {status['podIP']}"
    bad = cluster.wait_phase("bad", ("Failed",))
    term = bad["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    assert bad["spec"]["nodeName"] == "node-b"
    assert bad["status"]["podIP"].startswith(f"127.{cluster.net.octet}.24.")
    assert "dying" in cluster.log("bad")
    # an unknown executable is a StartError with exit code 128
    cluster.create("/api/v1/namespaces/default/pods", pod_obj("noexec", ["/no/such/binary"]))
    term = cluster.wait_phase("noexec", ("Failed",))["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 128 and term["reason"] == "StartError"


def test_restart_policies_with_backoff(cluster):
    # fails twice, then succeeds: OnFailure restarts it, the emptyDir keeps the attempt counter
    script = ("import os,sys; p='/work/n'; n=int(open(p).read()) if os.path.exists(p) else 0; "
              "open(p,'w').write(str(n+1)); print('attempt', n); sys.exit(0 if n >= 2 else 1)")
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "flaky", ["python", "-c", script], policy="OnFailure", volumes=[{"name": "w", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "w", "mountPath": "/work"}]}))
    done = cluster.wait_phase("flaky", ("Succeeded",))
    cs = done["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 2
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cluster.log("flaky").split() == ["attempt", "0", "attempt", "1", "attempt", "2"]

    cluster.create("/api/v1/namespaces/default/pods",
                   pod_obj("crashy", ["python", "-c", "raise SystemExit(4)"], policy="Always"))
    seen_backoff = []

    def restarted():
        pod = cluster.pod("crashy")
        cs = ((pod or {}).get("status") or {}).get("containerStatuses") or [{}]
        waiting = (cs[0].get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            seen_backoff.append(waiting.get("message"))
        return pod if cs[0].get("restartCount", 0) >= 3 else None
    pod = cluster.wait(restarted, 30, "crashy to restart 3 times")
    assert pod["status"]["phase"] == "Running"
    assert seen_backoff and "back-off" in seen_backoff[0]
    events = cluster.http.get("/api/v1/namespaces/default/events",
                              params={"fieldSelector": "involvedObject.name=crashy"}).json()["items"]
    reasons = {e["reason"] for e in events}
    assert {"Started", "BackOff"} <= reasons, reasons
    assert all(e["source"]["host"] == "node-a" for e in events)
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 4


def test_env_value_sources_and_var_expansion(cluster):
    cluster.create("/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "data": {"ACCESS_KEY_ID": "QUtJQQ=="}})  # AKIA
    cluster.create("/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"MODE": "edge", "N": "7"}})
    script = ("import json,os,sys; keys=['NAME','NS','NODE','IP','HOST','KEY','MODE','N','COMBO','POD_IP',"
              "'HOSTNAME']; print(json.dumps({k: os.environ.get(k) for k in keys})); print('ARGS', sys.argv[1:])")
    env = [
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "ACCESS_KEY_ID"}}},
        {"name": "COMBO", "value": "$(NAME)@$(NODE)"},
    ]
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "envpod", ["python", "-c", script], node="node-b",
        container={"env": env, "envFrom": [{"configMapRef": {"name": "cfg"}}],
                   "args": ["$(MODE)", "$$(MODE)", "$(UNDEFINED)"]}))
    pod = cluster.wait_phase("envpod", ("Succeeded",))
    out = cluster.log("envpod").splitlines()
    got = json.loads(out[0])
    ip = pod["status"]["podIP"]
    assert got == {"NAME": "envpod", "NS": "default", "NODE": "node-b", "IP": ip,
                   "HOST": cluster.net.node_address(1), "KEY": "AKIA", "MODE": "edge", "N": "7",
                   "COMBO": "envpod@node-b", "POD_IP": ip, "HOSTNAME": "envpod"}
    assert out[1] == "ARGS ['edge', '$(MODE)', '$(UNDEFINED)']"
    # a missing secret keeps the container waiting with CreateContainerConfigError
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "nosecret", ["python", "-c", "print(1)"],
        container={"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]}))

    def config_error():
        pod = cluster.pod("nosecret")
        cs = ((pod or {}).get("status") or {}).get("containerStatuses") or [{}]
        return ((cs[0].get("state") or {}).get("waiting") or {}).get("reason") == "CreateContainerConfigError"
    cluster.wait(config_error, 20, "CreateContainerConfigError")
    assert cluster.pod("nosecret")["status"]["phase"] == "Pending"


def test_configmap_and_secret_volumes_and_the_service_account_kubeconfig(cluster):
    """A ConfigMap's data is plain text (a YAML file is not base64; this once left such pods Pending), a
    Secret's is base64; a pod naming a service account gets the runtime's --pod-kubeconfig as KUBECONFIG."""
    cluster.create("/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gm-config"},
        "data": {"gm.yaml": "websocket:\n  port: 9000\n"}})
    cluster.create("/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tok"}, "data": {"token": "czNjcmV0"}})
    script = ("import os; print(repr(open('/etc/sedna/gm.yaml').read())); print(open('/var/tok/token').read()); "
              "print(os.environ.get('KUBECONFIG'))")
    for name, account in (("with-sa", "sedna"), ("without-sa", None)):
        spec = {"volumes": [{"name": "config", "configMap": {"name": "gm-config"}},
                            {"name": "tok", "secret": {"secretName": "tok"}}],
                "container": {"volumeMounts": [{"name": "config", "mountPath": "/etc/sedna"},
                                               {"name": "tok", "mountPath": "/var/tok"}]}}
        if account:
            spec["serviceAccountName"] = account
        cluster.create("/api/v1/namespaces/default/pods", pod_obj(name, ["python", "-c", script], **spec))
    for name, kubeconfig in (("with-sa", str(cluster.data_dir / "pods.kubeconfig")), ("without-sa", "None")):
        cluster.wait_phase(name, ("Succeeded",))
        assert cluster.log(name).splitlines() == ["'websocket:\\n  port: 9000\\n'", "s3cret", kubeconfig]


def test_hostpath_under_node_root_and_path_rewriting(cluster):
    script = ("import os; d=os.environ['OUT_DIR']; open(os.path.join(d,'result.txt'),'w').write('42'); "
              "print(d); print(os.getcwd()); "
              "print(open(os.path.join(os.environ['PREFIX'], 'out', 'result.txt')).read())")
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "writer", ["python", "-c", script], node="node-b",
        volumes=[{"name": "out", "hostPath": {"path": "/data/out", "type": "DirectoryOrCreate"}}],
        container={"env": [{"name": "OUT_DIR", "value": "/home/data/out"}, {"name": "PREFIX", "value": "/home/data"}],
                   "workingDir": "/home/data/out",
                   "volumeMounts": [{"name": "out", "mountPath": "/home/data/out"}]}))
    pod = cluster.wait_phase("writer", ("Succeeded",))
    host_file = cluster.data_dir / "nodes" / "node-b" / "data" / "out" / "result.txt"
    assert host_file.read_text() == "42"
    seen_dir, cwd, via_prefix = cluster.log("writer").splitlines()
    assert via_prefix == "42"         # a parent of the mount path (like DATA_PATH_PREFIX) leads to it too
    assert seen_dir.endswith("/rootfs/main/home/data/out") and pod["metadata"]["uid"] in seen_dir
    assert os.path.realpath(seen_dir) == str(host_file.parent.resolve())
    assert os.path.realpath(cwd) == str(host_file.parent.resolve())
    # type Directory that does not exist keeps the pod waiting (ContainerCreating) until it appears
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "needsdir", ["python", "-c", "print('found')"],
        volumes=[{"name": "d", "hostPath": {"path": "/models/m1", "type": "Directory"}}],
        container={"volumeMounts": [{"name": "d", "mountPath": "/m"}]}))
    time.sleep(1.0)
    assert cluster.pod("needsdir")["status"]["phase"] == "Pending"
    (cluster.data_dir / "nodes" / "node-a" / "models" / "m1").mkdir(parents=True)
    cluster.wait_phase("needsdir", ("Succeeded",))


def test_init_containers_run_first_and_in_order(cluster):
    vol = [{"name": "w", "emptyDir": {}}]
    mount = [{"name": "w", "mountPath": "/w"}]
    pod = pod_obj("inits", ["python", "-c", "print(open('/w/log').read().strip())"], volumes=vol,
                  container={"volumeMounts": mount})
    pod["spec"]["initContainers"] = [
        {"name": f"init{i}", "image": "busybox", "volumeMounts": mount,
         "command": ["python", "-c", f"import time; time.sleep(0.2); open('/w/log','a').write('init{i} ')"]}
        for i in (1, 2)]
    cluster.create("/api/v1/namespaces/default/pods", pod)
    done = cluster.wait_phase("inits", ("Succeeded",))
    assert cluster.log("inits", "main").strip() == "init1 init2"
    assert cluster.log("inits", "init2") == ""
    statuses = done["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["reason"] for s in statuses] == ["Completed", "Completed"]
    # a failing init container with restartPolicy Never fails the pod; the main container never starts
    pod = pod_obj("initfail", ["python", "-c", "print('main ran')"])
    pod["spec"]["initContainers"] = [{"name": "boom", "image": "x", "command": ["python", "-c", "exit(5)"]}]
    cluster.create("/api/v1/namespaces/default/pods", pod)
    failed = cluster.wait_phase("initfail", ("Failed",))
    assert failed["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 5
    assert "waiting" in failed["status"]["containerStatuses"][0]["state"]


def test_pod_deletion_kills_process_tree(cluster):
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "sleeper", ["sh", "-c", "sleep 300 & sleep 300 & wait"], policy="Always"))
    pod = cluster.wait_phase("sleeper", ("Running",))
    pgid = pgid_of(pod["status"])
    assert group_alive(pgid)
    assert cluster.http.delete("/api/v1/namespaces/default/pods/sleeper").status_code == 200
    cluster.wait(lambda: not group_alive(pgid), 15, "process group to die")
    cluster.wait(lambda: cluster.pod("sleeper") is None, 15, "pod to go")


def test_deleting_deployment_removes_pods_and_processes(cluster):
    labels = {"app": "sleepy"}
    cluster.create("/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sleepy"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "main", "image": "x", "command": ["sleep", "300"]}]}}}})

    def running_pods():
        items = cluster.http.get("/api/v1/namespaces/default/pods", params={"labelSelector": "app=sleepy"}
                                 ).json()["items"]
        running = [p for p in items if p["status"].get("phase") == "Running"]
        return running if len(running) == 2 else None
    pods = cluster.wait(running_pods, 30, "2 deployment pods running")
    pgids = [pgid_of(p["status"]) for p in pods]
    assert all(group_alive(g) for g in pgids)
    resp = cluster.http.request("DELETE", "/apis/apps/v1/namespaces/default/deployments/sleepy",
                                json={"propagationPolicy": "Background"})
    assert resp.status_code == 200
    cluster.wait(lambda: not any(group_alive(g) for g in pgids), 30, "deployment processes to die")
    cluster.wait(lambda: not cluster.http.get("/api/v1/namespaces/default/pods",
                                              params={"labelSelector": "app=sleepy"}).json()["items"], 30)


def _web_pod(name, text, node):
    script = (f"import http.server,os; open('index.html','w').write('{text}'); "
              "http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port=5000, "
              "bind=os.environ['POD_IP'])")
    return pod_obj(name, ["python", "-c", script], node=node, policy="Always", labels={"app": name},
                   container={"readinessProbe": {"tcpSocket": {"port": 5000}, "periodSeconds": 1}})


def test_services_clusterip_proxy_and_host_names(cluster):
    for name, node in (("alpha", "node-a"), ("beta", "node-b")):
        cluster.create("/api/v1/namespaces/default/pods", _web_pod(name, f"i am {name}", node))
        cluster.create("/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-svc"},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 5000, "targetPort": 5000}]}})

    def ready(name):
        pod = cluster.pod(name)
        return pod and any(c["type"] == "Ready" and c["status"] == "True"
                           for c in pod["status"].get("conditions") or [])
    for name in ("alpha", "beta"):
        cluster.wait(lambda n=name: ready(n), 30, f"{name} ready")
    ips = {}

    def loopback_ip(name):
        svc = cluster.http.get(f"/api/v1/namespaces/default/services/{name}-svc").json()
        return svc["spec"]["clusterIP"] if svc["spec"]["clusterIP"].startswith("127.") else None
    for name in ("alpha", "beta"):
        ips[name] = cluster.wait(lambda n=name: loopback_ip(n), 10, "ClusterIP")
        assert ips[name] in set(cluster.net.service_candidates())
    assert ips["alpha"] != ips["beta"]
    for name in ("alpha", "beta"):
        body = cluster.wait(lambda n=name: _fetch(f"http://{ips[n]}:5000/index.html"), 15, "proxy answer")
        assert body == f"i am {name}"
    # a pod reaches a service by its DNS-style name in env and args (rewritten to the ClusterIP)
    script = ("import os,sys,urllib.request; print(urllib.request.urlopen(os.environ['URL'] + 'index.html', "
              "timeout=5).read().decode()); print(urllib.request.urlopen('http://' + sys.argv[1] + "
              "'/index.html', timeout=5).read().decode())")
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "client", ["python", "-c", script, "beta-svc.default.svc.cluster.local:5000"], node="node-b",
        container={"env": [{"name": "URL", "value": "http://alpha-svc.default:5000/"}]}))
    cluster.wait_phase("client", ("Succeeded",))
    assert cluster.log("client").split("\n")[:2] == ["i am alpha", "i am beta"]
    # deleting a Service closes its listener
    assert cluster.http.delete("/api/v1/namespaces/default/services/alpha-svc").status_code == 200
    cluster.wait(lambda: _fetch(f"http://{ips['alpha']}:5000/index.html") is None, 10, "listener closed")
    assert _fetch(f"http://{ips['beta']}:5000/index.html") == "i am beta"


def test_a_service_created_after_the_pod_started_resolves_when_it_connects(cluster):
    """The cluster DNS stand-in: a Python worker (importing sedna) started before the Service exists reaches
    it by its bare name once it does; the runtime gives the pod the name table and its namespace."""
    script = ("import os, time, urllib.request, sedna\n"
              "print(os.environ['SEDNA_SERVICE_NAMESPACE'], os.path.basename(os.environ['SEDNA_SERVICE_HOSTS']),"
              " flush=True)\n"
              "deadline = time.time() + 40\n"
              "while True:\n"
              "    try:\n"
              "        print(urllib.request.urlopen('http://late-svc:5000/index.html', timeout=3).read().decode())\n"
              "        break\n"
              "    except OSError as exc:\n"
              "        if time.time() > deadline: raise\n"
              "        time.sleep(0.3)\n")
    cluster.create("/api/v1/namespaces/default/pods", pod_obj("early", ["python", "-c", script], node="node-b"))
    cluster.wait_phase("early", ("Running",))
    cluster.create("/api/v1/namespaces/default/pods", _web_pod("late", "i am late", "node-a"))
    cluster.create("/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "late-svc"},
        "spec": {"selector": {"app": "late"}, "ports": [{"name": "http", "port": 5000, "targetPort": 5000}]}})
    cluster.wait_phase("early", ("Succeeded",), timeout=60)
    assert cluster.log("early").split("\n")[:2] == ["default services.json", "i am late"]


def _fetch(url: str) -> str | None:
    try:
        resp = httpx.get(url, timeout=3)
        return resp.text if resp.status_code == 200 else None
    except httpx.HTTPError:
        return None


def test_host_network_and_own_scheduler(cluster):
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "hostnet", ["python", "-c", "import os; print(os.environ['POD_IP'], os.environ['HOSTNAME'])"],
        node="node-b", hostNetwork=True))
    pod = cluster.wait_phase("hostnet", ("Succeeded",))
    assert pod["status"]["podIP"] == cluster.net.node_address(1)
    assert cluster.log("hostnet").strip() == f"{cluster.net.node_address(1)} node-b"
    # pods naming the runtime's scheduler are bound by it (the emulator leaves them alone)
    mine = pod_obj("mine", ["python", "-c", "print('scheduled')"], node=None, schedulerName="sedna-local",
                   nodeSelector={"role": "edge"})
    cluster.create("/api/v1/namespaces/default/pods", mine)
    pod = cluster.wait_phase("mine", ("Succeeded",))
    assert pod["spec"]["nodeName"] == "node-b"
    stuck = pod_obj("stuck", ["python", "-c", "print(1)"], node=None, schedulerName="sedna-local",
                    nodeSelector={"role": "nowhere"})
    cluster.create("/api/v1/namespaces/default/pods", stuck)

    def unschedulable():
        conds = (cluster.pod("stuck").get("status") or {}).get("conditions") or []
        return any(c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conds)
    cluster.wait(unschedulable, 15, "Unschedulable condition")


def test_runtime_shutdown_kills_pods_and_kubectl_sees_them(cluster, apiserver):
    cluster.create("/api/v1/namespaces/default/pods", pod_obj("longrun", ["sleep", "300"], policy="Always"))
    pod = cluster.wait_phase("longrun", ("Running",))
    pgid = pgid_of(pod["status"])
    kubectl = Path(sys.executable).parent / "kubectl"
    if kubectl.exists():
        out = subprocess.run([str(kubectl), "--kubeconfig", str(apiserver.kubeconfig), "get", "pods", "-o", "wide"],
                             capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode == 0, out.stderr
        assert "longrun" in out.stdout and "Running" in out.stdout and "node-a" in out.stdout
    cluster.procs[0].send_signal(signal.SIGTERM)
    cluster.procs[0].wait(15)
    cluster.wait(lambda: not group_alive(pgid), 10, "pod processes to die with the runtime")


def test_image_map_entry_and_annotation(cluster):
    # node-a runs with an image map: entrypoint + cmd, WORKDIR and image content from a host directory
    cluster.create("/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fromimage"},
        "spec": {"restartPolicy": "Never", "nodeSelector": {"kubernetes.io/hostname": "node-a"},
                 "containers": [{"name": "main", "image": "example/app:v2"}]}})
    cluster.wait_phase("fromimage", ("Succeeded",))
    line = cluster.log("fromimage").strip()
    assert line.startswith("app ") and line.endswith("['--default'] hi True")
    assert os.path.realpath(line.split()[1]) == str((cluster.data_dir / "image-code").resolve())
    # the pod annotation adds an image of its own
    pod = pod_obj("annotated", None, node="node-b")
    pod["spec"]["containers"][0]["image"] = "local/echo:1"
    pod["spec"]["containers"][0]["args"] = ["from-args"]
    pod["metadata"]["annotations"] = {"local.sedna.io/image-map": json.dumps(
        {"local/echo": {"entrypoint": ["python", "-c", "import sys; print('echo', *sys.argv[1:])"]}})}
    cluster.create("/api/v1/namespaces/default/pods", pod)
    cluster.wait_phase("annotated", ("Succeeded",))
    assert cluster.log("annotated").strip() == "echo from-args"
    # an unknown image without a command cannot start
    pod = pod_obj("noimage", None)
    cluster.create("/api/v1/namespaces/default/pods", pod)

    def create_error():
        cs = ((cluster.pod("noimage") or {}).get("status") or {}).get("containerStatuses") or [{}]
        return ((cs[0].get("state") or {}).get("waiting") or {}).get("reason") == "CreateContainerError"
    cluster.wait(create_error, 20, "CreateContainerError")


def test_lc_server_and_service_links_injected(cluster):
    cluster.create("/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "model-store"},
        "spec": {"selector": {"app": "none"}, "ports": [{"port": 8080}]}})
    cluster.wait(lambda: cluster.http.get("/api/v1/namespaces/default/services/model-store").json()["spec"][
        "clusterIP"].startswith("127."), 10, "ClusterIP")
    script = "import os; print(os.environ['LC_SERVER'], os.environ['MODEL_STORE_SERVICE_HOST'], " \
             "os.environ['MODEL_STORE_SERVICE_PORT'])"
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "worker", ["python", "-c", script], node="node-b",
        container={"env": [{"name": "LC_SERVER", "value": "http://localhost:9100"}]}))
    cluster.wait_phase("worker", ("Succeeded",))
    ip = cluster.http.get("/api/v1/namespaces/default/services/model-store").json()["spec"]["clusterIP"]
    assert cluster.log("worker").split() == [cluster.lc_server_b, ip, "8080"]


def test_graceful_deletion_kills_then_final_delete(cluster):
    # a plain delete of a running pod is graceful: the agent stops it, then removes it with grace 0
    cluster.create("/api/v1/namespaces/default/pods", pod_obj("graceful", ["sleep", "300"], policy="Always"))
    pgid = pgid_of(cluster.wait_phase("graceful", ("Running",))["status"])
    resp = cluster.http.request("DELETE", "/api/v1/namespaces/default/pods/graceful",
                                json={"gracePeriodSeconds": 20})
    assert resp.status_code in (200, 202)
    cluster.wait(lambda: cluster.pod("graceful") is None, 15, "pod removed by the agent's final delete")
    assert not group_alive(pgid)
    # a finalizer holds the object: the processes still stop at once and the final state is reported
    pod = pod_obj("held", ["sleep", "300"], policy="Always")
    pod["metadata"]["finalizers"] = ["example.com/hold"]
    cluster.create("/api/v1/namespaces/default/pods", pod)
    pgid = pgid_of(cluster.wait_phase("held", ("Running",))["status"])
    assert cluster.http.delete("/api/v1/namespaces/default/pods/held").status_code in (200, 202)
    cluster.wait(lambda: not group_alive(pgid), 15, "processes of the terminating pod to die")

    def terminated():
        pod = cluster.pod("held")
        state = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}
        return pod if "terminated" in state else None
    held = cluster.wait(terminated, 10, "terminated state reported")
    assert held["metadata"].get("deletionTimestamp")
    assert held["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143   # SIGTERM
    time.sleep(1.0)                     # the agent is done with it: no further writes
    assert cluster.pod("held")["metadata"]["resourceVersion"] == held["metadata"]["resourceVersion"]
    resp = cluster.http.patch("/api/v1/namespaces/default/pods/held", json={"metadata": {"finalizers": None}},
                              headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text


def test_restarted_agent_kills_leftovers_and_runs_pod_again(cluster):
    cluster.create("/api/v1/namespaces/default/pods", pod_obj("survivor", ["sleep", "300"], node="node-b",
                                                              policy="Always"))
    first = cluster.wait_phase("survivor", ("Running",))
    old_pgid, ip = pgid_of(first["status"]), first["status"]["podIP"]
    agent_b = cluster.procs[1]
    agent_b.kill()                      # a crash: no chance to stop its pods
    agent_b.wait(10)
    assert group_alive(old_pgid)
    cluster.start_runtime("--node", "node-b", "--node-index", "1", "--labels", "role=edge")

    def restarted():
        pod = cluster.pod("survivor")
        cid = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("containerID", "")
        running = "running" in (((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {})
        return pod if running and cid and cid != f"sedna-local://{old_pgid}" else None
    pod = cluster.wait(restarted, 30, "pod running under the new agent")
    assert not group_alive(old_pgid)
    assert pod["status"]["podIP"] == ip
    assert group_alive(pgid_of(pod["status"]))


BIG_MODEL = """
import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        model = open(os.environ['MODEL_URL']).read().strip()
        out = json.dumps({'result': body['x'] * 2, 'model': model, 'by': os.environ['HOSTNAME']}).encode()
        self.send_response(200); self.send_header('Content-Length', str(len(out))); self.end_headers()
        self.wfile.write(out)
http.server.HTTPServer((os.environ['POD_IP'], 5000), H).serve_forever()
"""

LITTLE_MODEL = """
import json, os, time, urllib.request
model = open(os.path.join(os.environ['DATA_PATH_PREFIX'], 'models', 'little', 'little.txt')).read().strip()
url = 'http://%s:%s/' % (os.environ['BIG_MODEL_IP'], os.environ['BIG_MODEL_PORT'])
for attempt in range(100):
    try:
        req = urllib.request.Request(url, data=json.dumps({'x': 21}).encode(), method='POST')
        answer = json.loads(urllib.request.urlopen(req, timeout=5).read())
        break
    except OSError:
        time.sleep(0.2)
report = json.dumps({'little': model, 'big': answer}).encode()
req = urllib.request.Request(os.environ['LC_SERVER'] + '/sedna/workers/x/info', data=report, method='POST')
urllib.request.urlopen(req, timeout=5).read()
print('reported', answer['result'])
"""


def test_joint_inference_shaped_workers(cluster):
    """Workers shaped like the GM's JointInference output: a cloud Deployment behind a Service and an edge pod
    reaching it as `<svc>.<ns>`, models on hostPath `Directory` volumes under /home/data, LC_SERVER reporting."""
    import http.server
    import threading

    root_a, root_b = cluster.data_dir / "nodes" / "node-a", cluster.data_dir / "nodes" / "node-b"
    (root_a / "models" / "big").mkdir(parents=True)
    (root_a / "models" / "big" / "big.txt").write_text("big-v1")
    (root_b / "models" / "little").mkdir(parents=True)
    (root_b / "models" / "little" / "little.txt").write_text("little-v1")
    reports = []

    class FakeLC(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            reports.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    lc = http.server.HTTPServer((cluster.net.node_address(1), cluster.lc_port_b), FakeLC)
    threading.Thread(target=lc.serve_forever, daemon=True).start()
    try:
        labels = {"jointinferenceservice.sedna.io/name": "ji", "jointinferenceservice.sedna.io/worker-type": "cloud"}
        model_vol = lambda name, d: ({"name": name, "hostPath": {"path": d, "type": "Directory"}},
                                     {"name": name, "mountPath": f"/home/data{d}"})
        vol, mount = model_vol("bigmodel", "/models/big")
        cluster.create("/apis/apps/v1/namespaces/default/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ji-deployment-cloud"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": "node-a"}, "volumes": [vol],
                         "containers": [{"name": "big-model", "image": "example/big:v1",
                                         "command": ["python", "-c", BIG_MODEL],
                                         "env": [{"name": "MODEL_URL", "value": "/home/data/models/big/big.txt"}],
                                         "volumeMounts": [mount]}]}}}})
        cluster.create("/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ji-cloud"},
            "spec": {"selector": labels, "ports": [{"name": "tcp-0", "port": 5000, "targetPort": 5000}]}})
        vol, mount = model_vol("littlemodel", "/models/little")
        cluster.create("/api/v1/namespaces/default/pods", pod_obj(
            "ji-edge", ["python", "-c", LITTLE_MODEL], node="node-b", policy="OnFailure", volumes=[vol],
            container={"volumeMounts": [mount], "env": [
                {"name": "BIG_MODEL_IP", "value": "ji-cloud.default"}, {"name": "BIG_MODEL_PORT", "value": "5000"},
                {"name": "DATA_PATH_PREFIX", "value": "/home/data"},
                {"name": "LC_SERVER", "value": "http://localhost:9100"}]}))
        cluster.wait_phase("ji-edge", ("Succeeded",), timeout=60)
    finally:
        lc.shutdown()
        lc.server_close()
    assert cluster.log("ji-edge").strip().splitlines()[-1] == "reported 42"
    assert len(reports) == 1
    path, body = reports[0]
    assert path == "/sedna/workers/x/info"
    assert body["little"] == "little-v1" and body["big"]["model"] == "big-v1" and body["big"]["result"] == 42
    assert body["big"]["by"].startswith("ji-deployment-cloud-")


def test_liveness_probe_failure_restarts_container(cluster):
    # the container never listens on its liveness port: it is killed after 2 failed probes and restarted
    cluster.create("/api/v1/namespaces/default/pods", pod_obj(
        "unhealthy", ["sleep", "300"], policy="Always",
        container={"livenessProbe": {"tcpSocket": {"port": 5999}, "periodSeconds": 0.3, "failureThreshold": 2}}))

    def restarted():
        cs = ((cluster.pod("unhealthy") or {}).get("status") or {}).get("containerStatuses") or [{}]
        return cs[0] if cs[0].get("restartCount", 0) >= 1 else None
    cs = cluster.wait(restarted, 30, "restart after liveness failures")
    assert cs["lastState"]["terminated"]["exitCode"] == 143            # SIGTERM from the kubelet
    events = cluster.http.get("/api/v1/namespaces/default/events",
                              params={"fieldSelector": "involvedObject.name=unhealthy"}).json()["items"]
    assert "Unhealthy" in {e["reason"] for e in events}
