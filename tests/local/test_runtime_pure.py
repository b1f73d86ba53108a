"""Table tests of the runtime's pure logic: env, $(VAR), host and path rewriting, volumes, images, status,
back-off, address plan and scheduling."""

import base64
import sys

import pytest

from sedna.local.runtime import envvars, images, netplan, paths, podstatus, scheduling


@pytest.mark.parametrize("text,env,want", [
    ("$(A)", {"A": "1"}, "1"),
    ("x$(A)y$(B)", {"A": "1", "B": "2"}, "x1y2"),
    ("$(MISSING)", {}, "$(MISSING)"),
    ("$$(A)", {"A": "1"}, "$(A)"),
    ("$$", {}, "$"),
    ("a$b", {}, "a$b"),
    ("$(A", {"A": "1"}, "$(A"),
    ("$()", {}, "$()"),
    ("$(A)$(A)", {"A": "$(B)", "B": "no"}, "$(B)$(B)"),
    ("end$", {}, "end$"),
])
def test_expand(text, env, want):
    assert envvars.expand(text, env) == want


def _pod():
    return {
        "metadata": {"name": "p1", "namespace": "ns1", "uid": "u-1", "labels": {"app": "web"},
                     "annotations": {"note": "hi"}},
        "spec": {"nodeName": "edge-node", "containers": [{"name": "main", "resources": {
            "limits": {"cpu": "1500m", "memory": "64Mi"}}}]},
    }


def _sources():
    return envvars.EnvSources(
        secrets={"s3": {"data": {"KEY": base64.b64encode(b"secret-value").decode()}, "stringData": {"X": "sx"}}},
        configmaps={"cfg": {"data": {"MODE": "fast", "bad key": "skip", "LEVEL": "3"}}},
        pod_ip="127.20.16.1", host_ip="127.20.0.2", node_allocatable={"cpu": "4", "memory": "1Gi"},
    )


@pytest.mark.parametrize("env_item,name,want", [
    ({"name": "N", "value": "v"}, "N", "v"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, "N", "p1"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}, "N", "ns1"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}, "N", "edge-node"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}, "N", "127.20.16.1"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}, "N", "127.20.0.2"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}, "N", "u-1"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}, "N", "web"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}}, "N", "hi"),
    ({"name": "N", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "KEY"}}}, "N", "secret-value"),
    ({"name": "N", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "X"}}}, "N", "sx"),
    ({"name": "N", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}}, "N", "fast"),
    ({"name": "N", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}, "N", "2"),
    ({"name": "N", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}, "N", "1500"),
    ({"name": "N", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}, "N",
     "64"),
    ({"name": "N", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}}, "N", str(64 * 2 ** 20)),
])
def test_build_env_value_sources(env_item, name, want):
    pod = _pod()
    env = envvars.build_env(pod, {**pod["spec"]["containers"][0], "env": [env_item]}, _sources())
    assert env[name] == want


def test_build_env_order_expansion_and_envfrom():
    container = {
        "name": "main",
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"prefix": "S_", "secretRef": {"name": "s3"}}],
        "env": [{"name": "A", "value": "a"}, {"name": "B", "value": "$(A)-$(MODE)-$(C)"},
                {"name": "C", "value": "c"}, {"name": "MODE", "value": "slow"},
                {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}],
    }
    env = envvars.build_env(_pod(), container, _sources(), base={"PATH": "/bin"})
    assert env["B"] == "a-fast-$(C)"          # only earlier vars expand
    assert env["MODE"] == "slow"              # env overrides envFrom
    assert env["S_KEY"] == "secret-value" and env["LEVEL"] == "3"
    assert "bad key" not in env and "OPT" not in env and env["PATH"] == "/bin"


@pytest.mark.parametrize("item,fragment", [
    ({"name": "N", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}, "secret 'nope' not found"),
    ({"name": "N", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}, "key 'k' not found"),
    ({"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}, "unsupported fieldRef"),
])
def test_build_env_errors(item, fragment):
    with pytest.raises(envvars.EnvError, match=fragment):
        envvars.build_env(_pod(), {"name": "main", "env": [item]}, _sources())


SERVICES = [
    {"metadata": {"name": "cloud", "namespace": "default"}, "spec": {"clusterIP": "127.20.1.1"}},
    {"metadata": {"name": "model", "namespace": "other"}, "spec": {"clusterIP": "127.20.1.2"}},
    {"metadata": {"name": "headless", "namespace": "default"}, "spec": {"clusterIP": "None"}},
]


@pytest.mark.parametrize("value,want", [
    ("cloud.default", "127.20.1.1"),
    ("cloud.default:5000", "127.20.1.1:5000"),
    ("http://cloud.default.svc.cluster.local:5000/x", "http://127.20.1.1:5000/x"),
    ("http://cloud.default.svc/x", "http://127.20.1.1/x"),
    ("cloud", "cloud"),                                # a bare word alone stays
    ("http://cloud:80", "http://127.20.1.1:80"),
    ("cloud:5000", "127.20.1.1:5000"),
    ("the cloud is big", "the cloud is big"),        # a bare word in prose stays
    ("model", "model"),                                # other namespace: bare name not resolved
    ("model.other", "127.20.1.2"),
    ("--server=model.other:1", "--server=127.20.1.2:1"),
    ("a.cloud.default", "a.cloud.default"),           # part of a longer name
    ("headless.default", "headless.default"),
    ("cloud.defaults", "cloud.defaults"),
])
def test_rewrite_hosts(value, want):
    qualified, bare = envvars.service_host_table(SERVICES, "default")
    assert envvars.rewrite_hosts(value, qualified, bare) == want


MOUNTS = {"/home/data": "/n/rootfs/home/data", "/home/data/deep": "/host/deep", "/downloads": "/n/dl", "/": "/x"}


@pytest.mark.parametrize("value,want", [
    ("/home/data", "/n/rootfs/home/data"),
    ("/home/data/a/b.txt", "/n/rootfs/home/data/a/b.txt"),
    ("/home/data/deep/x", "/host/deep/x"),
    ("/home/database", "/home/database"),
    ("/home/data/a;/downloads/m.pb", "/n/rootfs/home/data/a;/n/dl/m.pb"),
    ("--model=/downloads/m", "--model=/n/dl/m"),
    ("s3://bucket/home/data", "s3://bucket/home/data"),
    ("/etc/passwd", "/etc/passwd"),
    ("x /downloads", "x /n/dl"),
    ("open('/downloads/m')", "open('/n/dl/m')"),
])
def test_rewrite_paths(value, want):
    assert envvars.rewrite_paths(value, MOUNTS) == want


@pytest.mark.parametrize("value,want", [
    ("/home/data", "/r/home/data"),               # a parent standing alone
    ("/home/data;/home/x/m", "/r/home/data;/n/x/m"),
    ("/home/database", "/home/database"),
    ("/home/data/other", "/home/data/other"),     # below a parent but not a mount: left alone
    ("/home/x/y", "/n/x/y"),
])
def test_rewrite_paths_exact_parents(value, want):
    assert envvars.rewrite_paths(value, {"/home/x": "/n/x"}, {"/home/data": "/r/home/data"}) == want


@pytest.mark.parametrize("path,rel", [
    ("/data/x", "data/x"), ("data/x", "data/x"), ("/../../etc", "etc"), ("/", ""), ("/a/./b/../c", "a/c"),
    ("//dbl", "dbl"),
])
def test_host_path_stays_under_root(path, rel, tmp_path):
    assert paths.host_path(tmp_path, path) == (tmp_path / rel if rel else tmp_path)


def test_plan_volumes_and_view(tmp_path):
    pod = {"spec": {"volumes": [
        {"name": "data", "hostPath": {"path": "/data/train", "type": "Directory"}},
        {"name": "dl", "emptyDir": {}},
        {"name": "sec", "secret": {"secretName": "s"}},
    ]}}
    root, pdir = tmp_path / "node", tmp_path / "pod"
    vols = paths.plan_volumes(pod, root, pdir)
    assert vols["data"].host == root / "data/train" and vols["data"].host_type == "Directory"
    assert vols["dl"].host == pdir / "volumes/kubernetes.io~empty-dir/dl"
    mounts = paths.plan_mounts({"name": "c", "volumeMounts": [
        {"name": "data", "mountPath": "/home/data/train"}, {"name": "dl", "mountPath": "/downloads"},
        {"name": "dl", "mountPath": "/downloads/sub", "subPath": "x"}]}, vols)
    assert mounts["/home/data/train"] == root / "data/train"
    assert mounts["/downloads/sub"] == pdir / "volumes/kubernetes.io~empty-dir/dl/x"
    rewrites, links, parents = paths.container_view(mounts, pdir / "rootfs")
    assert parents == {"/home": str(pdir / "rootfs/home"), "/home/data": str(pdir / "rootfs/home/data")}
    assert rewrites["/home/data/train"] == str(pdir / "rootfs/home/data/train")
    assert links[str(pdir / "rootfs/home/data/train")] == root / "data/train"
    assert rewrites["/downloads/sub"] == str(pdir / "volumes/kubernetes.io~empty-dir/dl/x")  # nested: direct
    assert str(pdir / "rootfs/downloads/sub") not in links


@pytest.mark.parametrize("pod,container,fragment", [
    ({"spec": {"volumes": [{"name": "v", "nfs": {}}]}}, None, "unsupported volume source"),
    ({"spec": {"volumes": []}}, {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/x"}]}, "names no volume"),
    ({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
     {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/x", "subPath": "../up"}]}, "subPath"),
])
def test_volume_errors(pod, container, fragment, tmp_path):
    with pytest.raises(paths.VolumeError, match=fragment):
        vols = paths.plan_volumes(pod, tmp_path, tmp_path)
        paths.plan_mounts(container, vols)


def test_image_map_lookup_and_argv(tmp_path):
    imap = images.parse_image_map({"images": {
        "example/little:v1": {"entrypoint": ["python", "little.py"], "cmd": ["--x"], "workingDir": "/home/work",
                              "paths": {"/home/work": "code"}},
        "example/big": {"entrypoint": ["/bin/echo"]},
        "registry.local:5000/*": {"cmd": ["sh", "-c", "true"]},
    }}, tmp_path)
    little = imap.lookup("example/little:v1")
    assert little.paths == {"/home/work": str((tmp_path / "code").resolve())}
    assert imap.lookup("example/big:v9") is imap.entries["example/big"]
    assert imap.lookup("registry.local:5000/a/b:1").cmd == ["sh", "-c", "true"]
    assert imap.lookup("unknown:1") is None
    py = sys.executable
    cases = [
        ({"image": "example/little:v1"}, little, [py, "little.py", "--x"]),
        ({"image": "example/little:v1", "args": ["--y"]}, little, [py, "little.py", "--y"]),
        ({"image": "example/little:v1", "command": ["sh"]}, little, ["sh"]),
        ({"image": "any", "command": ["python3", "-c", "1"]}, None, [py, "-c", "1"]),
        ({"image": "any", "command": ["/usr/bin/python3.11", "-V"], "args": ["x"]}, None, [py, "-V", "x"]),
        ({"image": "any", "command": ["pythonista"]}, None, ["pythonista"]),
    ]
    for container, entry, want in cases:
        assert images.container_argv(container, entry, py) == want
    with pytest.raises(images.ImageError, match="not in the image map"):
        images.container_argv({"name": "c", "image": "nope"}, None, py)
    with pytest.raises(images.ImageError, match="unknown keys"):
        images.parse_image_map({"images": {"x": {"entry": []}}})


def test_image_map_from_annotation():
    pod = {"metadata": {"annotations": {images.ANNOTATION: '{"img": {"entrypoint": ["echo", "hi"]}}'}}}
    assert images.annotation_image_map(pod).lookup("img:latest").entrypoint == ["echo", "hi"]


R = podstatus.ContainerRun


def _run(state, exit_code=None, restarts=0, last=None):
    run = R("c", state=state, exit_code=exit_code, restart_count=restarts, last_terminated=last)
    if state == "waiting":
        run.reason = "ContainerCreating"
    return run


@pytest.mark.parametrize("policy,init,containers,phase", [
    ("Never", [], [_run("waiting")], "Pending"),
    ("Never", [], [_run("running")], "Running"),
    ("Never", [], [_run("terminated", 0)], "Succeeded"),
    ("Never", [], [_run("terminated", 3)], "Failed"),
    ("Never", [], [_run("terminated", 0), _run("terminated", 1)], "Failed"),
    ("Never", [], [_run("terminated", 0), _run("running")], "Running"),
    ("OnFailure", [], [_run("terminated", 0)], "Succeeded"),
    ("OnFailure", [], [_run("terminated", 1)], "Running"),
    ("OnFailure", [], [_run("waiting", restarts=1, last={"exitCode": 1})], "Running"),
    ("Always", [], [_run("terminated", 0)], "Running"),
    ("", [], [_run("terminated", 0)], "Running"),
    ("Never", [_run("running")], [_run("waiting")], "Pending"),
    ("Never", [_run("terminated", 1)], [_run("waiting")], "Failed"),
    ("OnFailure", [_run("terminated", 1)], [_run("waiting")], "Pending"),
    ("Never", [_run("terminated", 0)], [_run("running")], "Running"),
])
def test_pod_phase(policy, init, containers, phase):
    assert podstatus.pod_phase(policy, init, containers) == phase


def test_pod_status_shape():
    run = R("main", image="img")
    run.start(123, "2026-01-01T00:00:00Z")
    run.ready = True
    init = R("init", image="img")
    init.start(100)
    init.finish(0)
    status = podstatus.pod_status("Never", [init], [run], host_ip="127.20.0.1", pod_ip="127.20.16.1",
                                  start_time="t0")
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds == {"Initialized": "True", "Ready": "True", "ContainersReady": "True", "PodScheduled": "True"}
    assert status["phase"] == "Running" and status["podIP"] == "127.20.16.1" and status["hostIP"] == "127.20.0.1"
    cs = status["containerStatuses"][0]
    assert cs["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}} and cs["ready"] is True
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    run.finish(2)
    run.wait("CrashLoopBackOff", "back-off 10s")
    run.restart_count = 1
    status = podstatus.pod_status("Always", [], [run], host_ip="h", pod_ip="p", start_time="t0", previous=status)
    cs = status["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 2 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 1 and status["phase"] == "Running"
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "ContainersNotReady"


def test_backoff_doubles_caps_and_resets():
    b = podstatus.Backoff(base=10, cap=40, reset_after=100)
    assert [b.next_delay(1) for _ in range(5)] == [10, 20, 40, 40, 40]
    assert b.next_delay(150) == 10


def test_netplan_layout_and_allocation():
    net = netplan.ClusterNet(33)
    assert net.node_address(0) == "127.33.0.1" and net.node_address(29) == "127.33.0.30"
    assert net.pod_cidr(0) == "127.33.16.0/21" and net.pod_cidr(1) == "127.33.24.0/21"
    assert net.pod_cidr(29) == "127.33.248.0/21"
    with pytest.raises(ValueError):
        net.node_address(30)
    assert netplan.ClusterNet.from_cidr("127.33.0.0/16") == net
    cands = list(netplan.cidr_candidates("127.33.16.0/21"))
    assert cands[0] == "127.33.16.1" and "127.33.16.255" not in cands and "127.33.17.0" not in cands
    assert netplan.allocate(cands, {"127.33.16.1", "127.33.16.2"}) == "127.33.16.3"
    assert netplan.allocate(cands, {"127.33.16.2"}, after="127.33.16.1") == "127.33.16.3"
    assert netplan.allocate(["a", "b", "c"], {"b"}, after="c") == "a"          # wraps around
    assert next(iter(net.service_candidates())) == "127.33.1.1"
    with pytest.raises(netplan.AddressExhausted):
        netplan.allocate(["a"], ["a"])
    # pod ranges of different nodes and the service range never overlap
    import ipaddress
    nets = [ipaddress.ip_network(net.pod_cidr(i)) for i in range(30)] + [ipaddress.ip_network("127.33.1.0/24")]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])


def _node(name, labels=None, ready=True, taints=None, unschedulable=False):
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


NODES = [_node("cloud-node", {"role": "cloud"}), _node("edge-node", {"role": "edge", "gpu": "2"}),
         _node("down-node", ready=False), _node("tainted", taints=[{"key": "edge", "effect": "NoSchedule"}])]


def _affinity(*exprs, fields=()):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": list(exprs), "matchFields": list(fields)}]}}}


@pytest.mark.parametrize("spec,load,want", [
    ({}, {}, "cloud-node"),
    ({}, {"cloud-node": 2}, "edge-node"),
    ({"nodeSelector": {"kubernetes.io/hostname": "edge-node"}}, {}, "edge-node"),
    ({"nodeSelector": {"role": "none"}}, {}, None),
    ({"affinity": _affinity({"key": "role", "operator": "In", "values": ["edge"]})}, {}, "edge-node"),
    ({"affinity": _affinity({"key": "role", "operator": "NotIn", "values": ["cloud"]})}, {}, "edge-node"),
    ({"affinity": _affinity({"key": "gpu", "operator": "Gt", "values": ["1"]})}, {}, "edge-node"),
    ({"affinity": _affinity({"key": "gpu", "operator": "DoesNotExist"})}, {}, "cloud-node"),
    ({"affinity": _affinity(fields=[{"key": "metadata.name", "operator": "In", "values": ["edge-node"]}])}, {},
     "edge-node"),
    ({"nodeSelector": {"kubernetes.io/hostname": "tainted"}}, {}, None),
    ({"nodeSelector": {"kubernetes.io/hostname": "tainted"}, "tolerations": [{"key": "edge", "operator": "Exists"}]},
     {}, "tainted"),
    ({"nodeSelector": {"kubernetes.io/hostname": "down-node"}}, {}, None),
])
def test_choose_node(spec, load, want):
    decision = scheduling.choose_node({"spec": spec}, NODES, load)
    assert decision.node == want
    if want is None:
        assert decision.message.startswith("0/4 nodes are available")
