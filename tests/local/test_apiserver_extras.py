"""Less common API behaviours: bookmarks, initial-events watches, log follow, server-side apply, dry runs,
terminating namespaces, scheduling rules, and the other built-in kinds."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from sedna.local.apiserver import BackgroundServer

HTTP = urllib3.PoolManager()


def request(url, method="GET", body=None, content_type="application/json", **kw):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    resp = HTTP.request(method, url, body=data, headers={"Content-Type": content_type}, timeout=30, **kw)
    return resp.status, resp.data


def lines(data: bytes) -> list[dict]:
    return [json.loads(x) for x in data.splitlines() if x.strip()]


def test_bookmarks_and_initial_events():
    with BackgroundServer(bookmark_interval=0.3) as server:
        base = f"{server.url}/api/v1/namespaces/default/configmaps"
        request(base, "POST", {"metadata": {"name": "a"}})
        status, data = request(f"{base}?watch=true&allowWatchBookmarks=true&sendInitialEvents=true"
                                     "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
        events = lines(data)
        assert status == 200 and events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "a"
        assert events[1]["type"] == "BOOKMARK"
        assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert sum(1 for e in events if e["type"] == "BOOKMARK") >= 3, "periodic bookmarks within 1 s"
        rv = int(events[-1]["object"]["metadata"]["resourceVersion"])
        assert rv >= int(events[0]["object"]["metadata"]["resourceVersion"])
        # no bookmarks unless asked
        _, data = request(f"{base}?watch=true&timeoutSeconds=1")
        assert [e["type"] for e in lines(data)] == ["ADDED"]


def test_log_follow_streams_until_the_pod_finishes(apiserver):
    core_url = f"{apiserver.url}/api/v1/namespaces/default/pods"
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "i"}]}}
    assert request(core_url, "POST", pod)[0] == 201
    apiserver.logs_dir.mkdir(parents=True, exist_ok=True)
    log = apiserver.logs_dir / "default_p_c.log"
    log.write_text("first\n")
    got = {}

    def follow():
        got["status"], got["data"] = request(f"{core_url}/p/log?follow=true")

    t = threading.Thread(target=follow)
    t.start()
    time.sleep(0.5)
    with log.open("a") as fh:
        fh.write("second\n")
    time.sleep(0.5)
    request(f"{core_url}/p/status", "PATCH", {"status": {"phase": "Succeeded"}},
            "application/merge-patch+json")
    t.join(10)
    assert not t.is_alive() and got["status"] == 200 and got["data"] == b"first\nsecond\n"
    status, data = request(f"{core_url}/p/log?limitBytes=3")
    assert (status, data) == (200, b"fir")


def test_server_side_apply_and_dry_run(apiserver):
    base = f"{apiserver.url}/api/v1/namespaces/default/configmaps"
    status, data = request(f"{base}/ssa?fieldManager=me", "PATCH",
                           b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: '12:00'}\n",
                           "application/apply-patch+yaml")
    assert status == 201 and json.loads(data)["data"] == {"a": "12:00"}
    status, data = request(f"{base}/ssa?fieldManager=me", "PATCH",
                           b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {b: '2'}\n",
                           "application/apply-patch+yaml")
    assert status == 200 and json.loads(data)["data"] == {"a": "12:00", "b": "2"}
    status, data = request(f"{base}?dryRun=All", "POST", {"metadata": {"name": "dry"}})
    assert status == 201 and json.loads(data)["metadata"]["name"] == "dry"
    assert request(f"{base}/dry")[0] == 404
    assert request(f"{base}/ssa?dryRun=All", "DELETE")[0] == 200
    assert request(f"{base}/ssa")[0] == 200


def test_terminating_namespace_refuses_new_objects(k8s_client):
    core = client.CoreV1Api(k8s_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ending")))
    core.create_namespaced_config_map("ending", client.V1ConfigMap(metadata=client.V1ObjectMeta(
        name="held", finalizers=["example.com/hold"])))
    core.delete_namespace("ending")
    time.sleep(0.3)
    ns = core.read_namespace("ending")
    assert ns.status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("ending", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="new")))
    assert err.value.status == 403
    core.patch_namespaced_config_map("held", "ending", {"metadata": {"finalizers": None}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "ending" not in [n.metadata.name for n in core.list_namespace().items]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the namespace was not removed")


def test_scheduler_respects_selectors_taints_and_unschedulable(k8s_client):
    core = client.CoreV1Api(k8s_client)
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="tainted", labels={"zone": "a"}),
                                   spec=client.V1NodeSpec(taints=[client.V1Taint(key="gpu", effect="NoSchedule")])))
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="cordoned", labels={"zone": "a"}),
                                   spec=client.V1NodeSpec(unschedulable=True)))
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="plain", labels={"zone": "b"})))

    def pod(name, selector=None, tolerations=None):
        return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(
            node_selector=selector, tolerations=tolerations, containers=[client.V1Container(name="c", image="i")]))

    core.create_namespaced_pod("default", pod("any"))
    core.create_namespaced_pod("default", pod("zone-a", {"zone": "a"}))
    core.create_namespaced_pod("default", pod("tolerant", {"zone": "a"},
                                              [client.V1Toleration(key="gpu", operator="Exists")]))

    def node_of(name):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            p = core.read_namespaced_pod(name, "default")
            conds = {c.type: c for c in p.status.conditions or []}
            if p.spec.node_name or "PodScheduled" in conds:
                return p.spec.node_name, conds.get("PodScheduled")
            time.sleep(0.05)
        raise AssertionError(f"{name} was never considered by the scheduler")

    assert node_of("any")[0] == "plain"
    node, cond = node_of("zone-a")
    assert node is None and cond.status == "False" and cond.reason == "Unschedulable"
    assert node_of("tolerant")[0] == "tainted"
    # a node that fits later gets the pending pod
    core.patch_node("cordoned", {"spec": {"unschedulable": False}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not core.read_namespaced_pod("zone-a", "default").spec.node_name:
        time.sleep(0.05)
    assert core.read_namespaced_pod("zone-a", "default").spec.node_name == "cordoned"


def test_other_builtin_kinds(k8s_client, apiserver):
    events = client.EventsV1Api(k8s_client)
    ev = events.create_namespaced_event("default", client.EventsV1Event(
        metadata=client.V1ObjectMeta(generate_name="e-"), event_time=datetime.now(timezone.utc), reason="Test", note="hello",
        action="Testing", reporting_controller="tests", reporting_instance="t1", type="Normal",
        regarding=client.V1ObjectReference(kind="Pod", name="p", namespace="default")))
    assert ev.metadata.name.startswith("e-")
    leases = client.CoordinationV1Api(k8s_client)
    lease = leases.create_namespaced_lease("default", client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"), spec=client.V1LeaseSpec(holder_identity="gm-0")))
    lease.spec.holder_identity = "gm-1"
    assert leases.replace_namespaced_lease("leader", "default", lease).spec.holder_identity == "gm-1"
    hpa = client.AutoscalingV2Api(k8s_client).create_namespaced_horizontal_pod_autoscaler("default",
        client.V2HorizontalPodAutoscaler(metadata=client.V1ObjectMeta(name="h"), spec=client.V2HorizontalPodAutoscalerSpec(
            max_replicas=3, scale_target_ref=client.V2CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="d"))))
    assert hpa.spec.max_replicas == 3
    core = client.CoreV1Api(k8s_client)
    svc = core.create_namespaced_service("default", client.V1Service(
        metadata=client.V1ObjectMeta(name="svc"), spec=client.V1ServiceSpec(
            selector={"app": "x"}, ports=[client.V1ServicePort(port=80)])))
    assert svc.spec.cluster_ip and svc.spec.ports[0].protocol == "TCP" and svc.spec.ports[0].target_port == 80
    core.patch_namespaced_service("svc", "default", {"spec": {"clusterIP": "127.1.1.1", "clusterIPs": ["127.1.1.1"]}})
    manifest = client.V1Service(metadata=client.V1ObjectMeta(name="svc"), spec=client.V1ServiceSpec(
        selector={"app": "y"}, ports=[client.V1ServicePort(port=81)]))
    replaced = core.replace_namespaced_service("svc", "default", manifest)
    assert replaced.spec.cluster_ip == "127.1.1.1", "an allocated clusterIP survives a PUT without one"
    secret = core.create_namespaced_secret("default", client.V1Secret(
        metadata=client.V1ObjectMeta(name="s"), string_data=None, data={"k": "dg=="}))
    assert secret.type == "Opaque"
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bp"}, "target": {"kind": "Node",
                                                                                            "name": "n1"}}
    core.create_namespaced_pod("default", client.V1Pod(metadata=client.V1ObjectMeta(name="bp"),
                                                       spec=client.V1PodSpec(scheduler_name="custom",
                                                                             containers=[client.V1Container(
                                                                                 name="c", image="i")])))
    status, _ = request(f"{apiserver.url}/api/v1/namespaces/default/pods/bp/binding", "POST", binding)
    assert status == 201
    assert core.read_namespaced_pod("bp", "default").spec.node_name == "n1"
    status, _ = request(f"{apiserver.url}/api/v1/namespaces/default/pods/bp/binding", "POST", binding)
    assert status == 409
    status, data = request(f"{apiserver.url}/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
    assert [p["metadata"]["name"] for p in json.loads(data)["items"]] == ["bp"]


def test_events_expire_and_single_object_watch():
    with BackgroundServer(event_ttl=0.5) as server:
        events = f"{server.url}/api/v1/namespaces/default/events"
        body = {"metadata": {"generateName": "ev-"}, "involvedObject": {"kind": "Pod", "name": "p"},
                "reason": "R", "message": "m", "type": "Normal"}
        status, data = request(events, "POST", body)
        assert status == 201
        name = json.loads(data)["metadata"]["name"]
        status, data = request(f"{events}?fieldSelector=involvedObject.name%3Dp,type%3DNormal")
        assert [e["metadata"]["name"] for e in json.loads(data)["items"]] == [name]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and json.loads(request(events)[1])["items"]:
            time.sleep(0.1)
        assert json.loads(request(events)[1])["items"] == []
        cms = f"{server.url}/api/v1/namespaces/default/configmaps"
        request(cms, "POST", {"metadata": {"name": "one"}})
        request(cms, "POST", {"metadata": {"name": "two"}})
        status, data = request(f"{cms}/one?watch=true&timeoutSeconds=1")
        assert [e["object"]["metadata"]["name"] for e in lines(data)] == ["one"]


def test_pods_on_a_ready_node_terminate_gracefully(k8s_client):
    core = client.CoreV1Api(k8s_client)
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    node = core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="live")))
    core.patch_node_status("live", {"status": ready})
    assert node.metadata.name == "live"

    def pod(name, node_name):
        return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(
            node_name=node_name, termination_grace_period_seconds=20,
            containers=[client.V1Container(name="c", image="i")]))

    core.create_namespaced_pod("default", pod("graceful", "live"))
    core.create_namespaced_pod("default", pod("orphan", "dead-node"))
    core.delete_namespaced_pod("graceful", "default")
    marked = core.read_namespaced_pod("graceful", "default")
    assert marked.metadata.deletion_timestamp and marked.metadata.deletion_grace_period_seconds == 20
    # the kubelet reports the stopped container, then removes the pod with grace 0
    core.patch_namespaced_pod_status("graceful", "default", {"status": {"phase": "Succeeded"}})
    assert core.read_namespaced_pod("graceful", "default").metadata.deletion_timestamp
    core.delete_namespaced_pod("graceful", "default", grace_period_seconds=0,
                               body=client.V1DeleteOptions(preconditions=client.V1Preconditions(
                                   uid=marked.metadata.uid)))
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("graceful", "default")
    assert err.value.status == 404
    core.delete_namespaced_pod("orphan", "default")   # no live kubelet: removed at once
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("orphan", "default")
    assert err.value.status == 404


def test_pods_whose_kubelet_never_finishes_are_collected():
    with BackgroundServer(pod_gc_slack=0.0, event_ttl=2.0) as server:
        base = f"{server.url}/api/v1"
        request(f"{base}/nodes", "POST", {"metadata": {"name": "n"}})
        request(f"{base}/nodes/n/status", "PATCH", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                "application/merge-patch+json")
        request(f"{base}/namespaces/default/pods", "POST", {"metadata": {"name": "stuck"}, "spec": {
            "nodeName": "n", "terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "i"}]}})
        status, data = request(f"{base}/namespaces/default/pods/stuck", "DELETE")
        assert status == 200 and json.loads(data)["metadata"]["deletionTimestamp"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and request(f"{base}/namespaces/default/pods/stuck")[0] == 200:
            time.sleep(0.2)
        assert request(f"{base}/namespaces/default/pods/stuck")[0] == 404
