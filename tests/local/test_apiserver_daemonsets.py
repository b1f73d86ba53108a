"""The emulator's DaemonSet controller: the pure plan (table-driven) and the controller in a real API server
(one pod per fitting node, bound by the scheduler, rolled on a template change, status, RBAC kinds stored)."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from sedna.local.apiserver.controllers.daemonsets import HASH_LABEL, daemon_pod_spec, plan
from sedna.local.apiserver.controllers.workloads import template_hash

TEMPLATE = {"metadata": {"labels": {"app": "lc"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
HASH = template_hash(TEMPLATE)


def ds(spec_extra=None, template=TEMPLATE):
    return {"metadata": {"name": "lc", "namespace": "ns", "uid": "u", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "lc"}}, "template": template, **(spec_extra or {})}}


def node(name, labels=None, taints=None, ready=True):
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name, on, ready=True, hash_=HASH, phase="Running", created="2026-01-01T00:00:00Z"):
    return {"metadata": {"name": name, "labels": {HASH_LABEL: hash_}, "creationTimestamp": created},
            "spec": {"nodeName": on},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


EDGE = {"node-role.kubernetes.io/edge": ""}
EDGE_TAINT = [{"key": "node-role.kubernetes.io/edge", "effect": "NoSchedule"}]


@pytest.mark.parametrize("case, daemonset, nodes, pods, create_on, delete", [
    ("one pod per node", ds(), [node("a"), node("b")], [], ["a", "b"], []),
    ("not-ready node still gets its pod", ds(), [node("a", ready=False)], [], ["a"], []),
    ("nodeSelector limits nodes",
     ds(template={**TEMPLATE, "spec": {**TEMPLATE["spec"], "nodeSelector": EDGE}}),
     [node("cloud"), node("edge", EDGE)], [], ["edge"], []),
    ("taint without toleration keeps the pod off", ds(), [node("e", EDGE, EDGE_TAINT)], [], [], []),
    ("toleration lets it on",
     ds(template={**TEMPLATE, "spec": {**TEMPLATE["spec"], "tolerations": [
         {"key": "node-role.kubernetes.io/edge", "operator": "Exists", "effect": "NoSchedule"}]}}),
     [node("e", EDGE, EDGE_TAINT)], [], ["e"], []),
    ("existing pods are kept", ds(), [node("a")], [pod("p1", "a")], [], []),
    ("a second pod on a node goes (newest)", ds(), [node("a")],
     [pod("old", "a"), pod("new", "a", created="2026-01-02T00:00:00Z")], [], ["new"]),
    ("pod on a node that no longer fits goes",
     ds(template={**TEMPLATE, "spec": {**TEMPLATE["spec"], "nodeSelector": EDGE}}),
     [node("a")], [pod("p1", "a")], [], ["p1"]),
    ("failed pod is replaced", ds(), [node("a")], [pod("p1", "a", phase="Failed")], ["a"], ["p1"]),
    ("rolling update: one ready outdated pod at a time", ds(), [node("a"), node("b")],
     [pod("p1", "a", hash_="old"), pod("p2", "b", hash_="old")], [], ["p1"]),
    ("rolling update: not-ready outdated pods all go", ds(), [node("a"), node("b")],
     [pod("p1", "a", hash_="old", ready=False), pod("p2", "b", hash_="old", ready=False)], [], ["p1", "p2"]),
    ("OnDelete keeps outdated pods", ds({"updateStrategy": {"type": "OnDelete"}}), [node("a")],
     [pod("p1", "a", hash_="old")], [], []),
])
def test_plan(case, daemonset, nodes, pods, create_on, delete):
    decided = plan(daemonset, nodes, pods)
    assert (sorted(decided.create_on), sorted(decided.delete)) == (create_on, delete), case


def test_plan_status_counts():
    decided = plan(ds(), [node("a"), node("b"), node("c")],
                   [pod("p1", "a"), pod("p2", "b", ready=False, hash_="old")])
    assert decided.status == {"desiredNumberScheduled": 3, "currentNumberScheduled": 2, "numberMisscheduled": 0,
                              "numberReady": 1, "numberAvailable": 1, "numberUnavailable": 2,
                              "updatedNumberScheduled": 1, "observedGeneration": 2}


def test_daemon_pod_spec_pins_the_node_and_keeps_label_terms():
    template = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "Exists"}]}]}}}, "containers": []}
    spec = daemon_pod_spec(template, "n1")
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert term == {"matchExpressions": [{"key": "x", "operator": "Exists"}],
                    "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
    assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"} in spec["tolerations"]
    assert "matchFields" not in str(template) and "tolerations" not in template    # the template is unchanged


def _wait(what, check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_daemonset_in_the_api_server(k8s_client):
    core, apps = client.CoreV1Api(k8s_client), client.AppsV1Api(k8s_client)
    for name, labels in (("cloud", {}), ("edge1", EDGE), ("edge2", EDGE)):
        core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "lc"},
            "spec": {"selector": {"matchLabels": {"app": "lc"}},
                     "template": {"metadata": {"labels": {"app": "lc"}},
                                  "spec": {"hostNetwork": True, "nodeSelector": EDGE,
                                           "containers": [{"name": "lc", "image": "sedna/lc:1"}]}}}}
    apps.create_namespaced_daemon_set("default", body)

    def daemon_pods():
        return core.list_namespaced_pod("default", label_selector="app=lc").items

    pods = _wait("two bound daemon pods", lambda: (p := daemon_pods()) and len(p) == 2
                 and all(x.spec.node_name for x in p) and p)
    assert sorted(p.spec.node_name for p in pods) == ["edge1", "edge2"]
    assert all(p.metadata.owner_references[0].kind == "DaemonSet" and p.spec.host_network for p in pods)
    got = _wait("status", lambda: (d := apps.read_namespaced_daemon_set("lc", "default")).status
                and d.status.desired_number_scheduled == 2 and d.status.current_number_scheduled == 2 and d)
    assert got.spec.update_strategy.type == "RollingUpdate"
    # a new edge node gets its pod; a template change replaces the pods (not ready here: all at once)
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="edge3", labels=EDGE)))
    _wait("a pod on edge3", lambda: any(p.spec.node_name == "edge3" for p in daemon_pods()))
    old = {p.metadata.name for p in daemon_pods()}
    apps.patch_namespaced_daemon_set("lc", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "lc", "image": "sedna/lc:2"}]}}}})
    _wait("replaced pods", lambda: (p := daemon_pods()) and len(p) == 3
          and not ({x.metadata.name for x in p} & old) and all(x.spec.containers[0].image == "sedna/lc:2" for x in p))
    # deleting the DaemonSet collects its pods
    apps.delete_namespaced_daemon_set("lc", "default", propagation_policy="Background")
    _wait("pods collected", lambda: not [p for p in daemon_pods() if not p.metadata.deletion_timestamp])


def test_rbac_objects_are_stored(k8s_client):
    rbac = client.RbacAuthorizationV1Api(k8s_client)
    rbac.create_cluster_role({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                              "metadata": {"name": "r"},
                              "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    rbac.create_cluster_role_binding({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                      "metadata": {"name": "r"},
                                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                  "name": "r"},
                                      "subjects": [{"kind": "ServiceAccount", "name": "s", "namespace": "d"}]})
    assert rbac.read_cluster_role("r").rules[0].verbs == ["get"]
    assert rbac.read_cluster_role_binding("r").role_ref.name == "r"
