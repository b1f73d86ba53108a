"""Conformance of the API emulator as seen through the official ``kubernetes`` Python client."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from sedna.local.apiserver import BackgroundServer


def eventually(check, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (AssertionError, ApiException) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last: {last!r}")


def cm(name=None, labels=None, owners=None, finalizers=None, generate=None, data=None):
    meta = client.V1ObjectMeta(name=name, labels=labels, owner_references=owners, finalizers=finalizers,
                               generate_name=generate)
    return client.V1ConfigMap(metadata=meta, data=data or {"k": "v"})


def owner_ref(obj, kind="ConfigMap", api_version="v1"):
    return client.V1OwnerReference(api_version=api_version, kind=kind, name=obj.metadata.name,
                                   uid=obj.metadata.uid)


@pytest.fixture
def core(k8s_client):
    return client.CoreV1Api(k8s_client)


@pytest.fixture
def apps(k8s_client):
    return client.AppsV1Api(k8s_client)


def test_create_get_list_and_server_filled_metadata(core):
    assert "default" in [n.metadata.name for n in core.list_namespace().items]
    created = core.create_namespaced_config_map("default", cm("one", labels={"a": "1"}))
    meta = created.metadata
    assert meta.uid and meta.namespace == "default" and meta.creation_timestamp and meta.resource_version
    got = core.read_namespaced_config_map("one", "default")
    assert got.data == {"k": "v"} and got.metadata.uid == meta.uid
    generated = core.create_namespaced_config_map("default", cm(generate="gen-"))
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == len("gen-") + 5
    listing = core.list_namespaced_config_map("default")
    assert {c.metadata.name for c in listing.items} == {"one", generated.metadata.name}
    assert int(listing.metadata.resource_version) >= int(generated.metadata.resource_version)
    # raw list body: typed kind and apiVersion
    raw = core.list_config_map_for_all_namespaces(_preload_content=False)
    import json
    body = json.loads(raw.data)
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"


def test_errors_are_kubernetes_statuses(core):
    core.create_namespaced_config_map("default", cm("dup"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", cm("dup"))
    assert err.value.status == 409 and '"reason":"AlreadyExists"' in err.value.body.replace(" ", "")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("absent", "default")
    assert err.value.status == 404 and "NotFound" in err.value.body
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", cm("Bad_Name"))
    assert err.value.status == 422 and "metadata.name" in err.value.body
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("nowhere", cm("x"))
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("default", client.V1Pod(metadata=client.V1ObjectMeta(name="p"),
                                                           spec=client.V1PodSpec(containers=[])))
    assert err.value.status == 422 and "spec.containers" in err.value.body
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map("default", label_selector="a in (b")
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map("default", field_selector="data.k=v")
    assert err.value.status == 400


def test_replace_conflict_and_generation(apps, core):
    first = core.create_namespaced_config_map("default", cm("c"))
    first.data = {"k": "2"}
    second = core.replace_namespaced_config_map("c", "default", first)
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    first.data = {"k": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", "default", first)   # stale resourceVersion
    assert err.value.status == 409 and "Conflict" in err.value.body
    # an unchanged write keeps the resourceVersion
    same = core.replace_namespaced_config_map("c", "default", second)
    assert same.metadata.resource_version == second.metadata.resource_version

    d = apps.create_namespaced_deployment("default", deployment("gen", 0))
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("gen", "default", {"metadata": {"labels": {"x": "y"}}})
    assert d.metadata.generation == 1, "metadata changes do not bump generation"
    d = apps.patch_namespaced_deployment("gen", "default", {"spec": {"replicas": 0, "paused": True}})
    assert d.metadata.generation == 2


def test_three_patch_types_and_failed_test_is_422(core):
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="pp", labels={"a": "1"}), spec=client.V1PodSpec(
        containers=[client.V1Container(name="main", image="img:1", env=[client.V1EnvVar(name="A", value="1")]),
                    client.V1Container(name="side", image="side:1")]))
    created = core.create_namespaced_pod("default", pod)
    merged = core.patch_namespaced_pod("pp", "default", {"metadata": {"labels": {"b": "2", "a": None}}})
    assert merged.metadata.labels == {"b": "2"}
    # the client sends a dict body as strategic merge patch: containers merge by name
    smp = core.patch_namespaced_pod("pp", "default", {"spec": {"containers": [
        {"name": "main", "image": "img:2", "env": [{"name": "B", "value": "2"}]}]}})
    main, side = smp.spec.containers
    assert (main.image, side.image) == ("img:2", "side:1")
    assert [e.name for e in main.env] == ["A", "B"]
    rv = smp.metadata.resource_version
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
           {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/x"]}]
    jp = core.patch_namespaced_pod("pp", "default", ops)
    assert jp.metadata.finalizers == ["example.com/x"]
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("pp", "default", ops)   # resourceVersion moved on
    assert err.value.status == 422
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("pp", "default", [{"op": "remove", "path": "/spec/nothing"}])
    assert err.value.status in (400, 422)
    assert created.metadata.uid == jp.metadata.uid


def deployment(name, replicas, image="img:1", strategy=None):
    labels = {"app": name}
    spec = client.V1DeploymentSpec(
        replicas=replicas, selector=client.V1LabelSelector(match_labels=labels), strategy=strategy,
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                          spec=client.V1PodSpec(containers=[client.V1Container(
                                              name="main", image=image)])))
    return client.V1Deployment(metadata=client.V1ObjectMeta(name=name), spec=spec)


def test_status_subresource_is_separate(apps):
    apps.create_namespaced_deployment("default", deployment("st", 0))
    body = {"spec": {"replicas": 0}, "status": {"replicas": 42}}
    d = apps.patch_namespaced_deployment("st", "default", body)
    assert (d.status.replicas or 0) != 42, "writes to the main resource ignore status"
    d = apps.patch_namespaced_deployment_status("st", "default", {"status": {"observedGeneration": 7},
                                                                  "spec": {"replicas": 5}})
    assert d.status.observed_generation == 7 and d.spec.replicas == 0, "status writes touch only status"


def test_label_and_field_selectors_limit_and_continue(core):
    for i in range(7):
        core.create_namespaced_config_map("default", cm(f"s{i}", labels={"idx": str(i), "even": str(i % 2 == 0)}))
    names = lambda items: sorted(c.metadata.name for c in items)
    assert names(core.list_namespaced_config_map("default", label_selector="even=True").items) == \
        ["s0", "s2", "s4", "s6"]
    assert names(core.list_namespaced_config_map("default", label_selector="idx in (1,3),even!=True").items) == \
        ["s1", "s3"]
    assert names(core.list_namespaced_config_map("default", label_selector="!idx").items) == []
    assert names(core.list_config_map_for_all_namespaces(field_selector="metadata.name=s5").items) == ["s5"]
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("default", limit=3, _continue=token, label_selector="idx")
        seen += [c.metadata.name for c in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"s{i}" for i in range(7)] and pages == 3
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="onnode"), spec=client.V1PodSpec(
        node_name="edge0", containers=[client.V1Container(name="c", image="i")]))
    core.create_namespaced_pod("default", pod)
    assert names(core.list_pod_for_all_namespaces(field_selector="spec.nodeName=edge0").items) == ["onnode"]
    assert names(core.list_pod_for_all_namespaces(field_selector="status.phase=Pending").items) == ["onnode"]


def test_watch_resume_timeout_and_deleted_between_list_and_watch(core):
    core.create_namespaced_config_map("default", cm("w1"))
    listing = core.list_namespaced_config_map("default")
    rv = listing.metadata.resource_version
    core.create_namespaced_config_map("default", cm("w2"))
    core.patch_namespaced_config_map("w1", "default", {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("w2", "default")
    started = time.monotonic()
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1)]
    assert events == [("ADDED", "w2"), ("MODIFIED", "w1"), ("DELETED", "w2")]
    assert time.monotonic() - started < 5, "the server ends the stream at timeoutSeconds"
    # without a resourceVersion a watch starts with the current objects
    first = next(iter(watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)))
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "w1")


def test_watch_streams_live_events_across_namespaces(core):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="other")))
    rv = core.list_config_map_for_all_namespaces().metadata.resource_version
    got = []

    def consume():
        w = watch.Watch()
        for e in w.stream(core.list_config_map_for_all_namespaces, resource_version=rv, timeout_seconds=5,
                          label_selector="watched=yes"):
            got.append((e["type"], e["object"].metadata.namespace, e["object"].metadata.name))
            if len(got) == 3:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    core.create_namespaced_config_map("other", cm("x", labels={"watched": "yes"}))
    core.create_namespaced_config_map("default", cm("ignored", labels={"watched": "no"}))
    core.create_namespaced_config_map("default", cm("y", labels={"watched": "yes"}))
    core.patch_namespaced_config_map("y", "default", {"metadata": {"labels": {"watched": "no"}}})
    t.join(10)
    assert got == [("ADDED", "other", "x"), ("ADDED", "default", "y"), ("DELETED", "default", "y")]


def test_watch_too_old_resource_version_is_410(tmp_path):
    from kubernetes import config as kconfig
    with BackgroundServer(history=5) as server:
        server.write_kubeconfig(tmp_path / "kc")
        configuration = client.Configuration()
        kconfig.load_kube_config(config_file=str(tmp_path / "kc"), client_configuration=configuration)
        with client.ApiClient(configuration) as api_client:
            core = client.CoreV1Api(api_client)
            rv = core.list_namespaced_config_map("default").metadata.resource_version
            for i in range(10):
                core.create_namespaced_config_map("default", cm(f"h{i}"))
            with pytest.raises(ApiException) as err:
                list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv,
                                          timeout_seconds=2))
            assert err.value.status == 410
            raw = core.list_namespaced_config_map("default", watch=True, resource_version=rv,
                                                  _preload_content=False)
            import json
            line = json.loads(raw.data.splitlines()[0])
            assert line["type"] == "ERROR" and line["object"]["code"] == 410
            assert line["object"]["reason"] == "Expired" and line["object"]["kind"] == "Status"


@pytest.mark.parametrize("policy,child_survives", [("Background", False), ("Foreground", False),
                                                    ("Orphan", True)])
def test_garbage_collection_background_foreground_orphan(core, policy, child_survives):
    owner = core.create_namespaced_config_map("default", cm("owner"))
    child = core.create_namespaced_config_map("default", cm("child", owners=[owner_ref(owner)]))
    core.create_namespaced_config_map("default", cm("grandchild", owners=[owner_ref(child)]))
    core.delete_namespaced_config_map("owner", "default", propagation_policy=policy)

    def names():
        return {c.metadata.name for c in core.list_namespaced_config_map("default").items}

    eventually(lambda: "owner" not in names())
    if child_survives:
        time.sleep(0.3)
        kept = core.read_namespaced_config_map("child", "default")
        assert not kept.metadata.owner_references
        assert "grandchild" in names()
    else:
        eventually(lambda: not {"child", "grandchild"} & names())


def test_foreground_deletion_keeps_owner_until_dependents_go(core):
    owner = core.create_namespaced_config_map("default", cm("fg-owner"))
    core.create_namespaced_config_map("default", cm("fg-child", owners=[owner_ref(owner)],
                                                    finalizers=["example.com/hold"]))
    core.delete_namespaced_config_map("fg-owner", "default", propagation_policy="Foreground")
    time.sleep(0.3)
    held = core.read_namespaced_config_map("fg-owner", "default")
    assert held.metadata.deletion_timestamp and "foregroundDeletion" in held.metadata.finalizers
    child = core.read_namespaced_config_map("fg-child", "default")
    assert child.metadata.deletion_timestamp
    core.patch_namespaced_config_map("fg-child", "default", {"metadata": {"finalizers": None}})
    eventually(lambda: "fg-owner" not in {c.metadata.name for c in core.list_namespaced_config_map("default").items})


def test_dangling_owner_reference_is_collected(core):
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="ghost",
                                  uid="00000000-0000-0000-0000-000000000000")
    core.create_namespaced_config_map("default", cm("orphaned", owners=[ref]))
    eventually(lambda: not [c for c in core.list_namespaced_config_map("default").items
                            if c.metadata.name == "orphaned"])


def test_finalizers_hold_deletion_until_removed(core):
    core.create_namespaced_config_map("default", cm("fin", finalizers=["example.com/a"]))
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.delete_namespaced_config_map("fin", "default")
    marked = core.read_namespaced_config_map("fin", "default")
    assert marked.metadata.deletion_timestamp and marked.metadata.finalizers == ["example.com/a"]
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("fin", "default", {"metadata": {"finalizers": ["example.com/a", "b"]}})
    assert err.value.status == 422
    # finalizers merge as a set under strategic merge patch (as in Kubernetes): [] would keep them
    kept = core.patch_namespaced_config_map("fin", "default", {"metadata": {"finalizers": []}})
    assert kept.metadata.finalizers == ["example.com/a"]
    core.patch_namespaced_config_map("fin", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("fin", "default")
    assert err.value.status == 404
    events = [e["type"] for e in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                                      resource_version=rv, timeout_seconds=1)]
    assert events == ["MODIFIED", "DELETED"]   # deletionTimestamp set, then removal


def test_delete_collection_by_selector(core):
    for i in range(4):
        core.create_namespaced_config_map("default", cm(f"dc{i}", labels={"batch": "a" if i < 3 else "b"}))
    core.delete_collection_namespaced_config_map("default", label_selector="batch=a")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["dc3"]


def test_failed_pods_are_replaced(apps, core):
    apps.create_namespaced_deployment("default", deployment("fail", 1))
    first = eventually(lambda: core.list_namespaced_pod("default", label_selector="app=fail").items)[0]
    core.patch_namespaced_pod_status(first.metadata.name, "default", {"status": {"phase": "Failed"}})
    eventually(lambda: len(core.list_namespaced_pod("default", label_selector="app=fail").items) == 2)


def test_default_namespace_cannot_be_deleted(core):
    with pytest.raises(ApiException) as err:
        core.delete_namespace("default")
    assert err.value.status == 403 and core.read_namespace("default").status.phase == "Active"


def test_namespace_deletion_empties_it(core):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doomed")))
    core.create_namespaced_config_map("doomed", cm("inside"))
    core.delete_namespace("doomed")
    eventually(lambda: "doomed" not in {n.metadata.name for n in core.list_namespace().items})
    assert core.list_namespaced_config_map("doomed").items == []


def mark_ready(core, pods):
    for pod in pods:
        core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})


def test_deployment_controller_scale_and_rollout(apps, core):
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="node-a")))
    apps.create_namespaced_deployment("default", deployment("web", 3))

    def pods(selector="app=web"):
        return [p for p in core.list_namespaced_pod("default", label_selector=selector).items
                if not p.metadata.deletion_timestamp]

    eventually(lambda: len(pods()) == 3)
    first = pods()
    rs_list = apps.list_namespaced_replica_set("default").items
    assert len(rs_list) == 1
    rs = rs_list[0]
    phash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{phash}"
    assert rs.metadata.owner_references[0].kind == "Deployment" and rs.metadata.owner_references[0].controller
    for p in first:
        assert p.metadata.owner_references[0].uid == rs.metadata.uid
        assert p.metadata.labels["pod-template-hash"] == phash
        assert p.spec.node_name == "node-a", "the scheduler binds pods to a fitting node"
    mark_ready(core, first)

    def status_is(ready, available_condition):
        d = apps.read_namespaced_deployment("web", "default")
        conds = {c.type: c for c in d.status.conditions or []}
        return (d.status.ready_replicas or 0) == ready and (d.status.available_replicas or 0) == ready and \
            conds.get("Available") and conds["Available"].status == available_condition

    eventually(lambda: status_is(3, "True"))
    d = apps.read_namespaced_deployment("web", "default")
    progressing = {c.type: c for c in d.status.conditions}["Progressing"]
    assert progressing.reason == "NewReplicaSetAvailable"
    assert d.status.observed_generation == d.metadata.generation

    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 1}})
    eventually(lambda: len(pods()) == 1)
    eventually(lambda: status_is(1, "True"))

    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 2, "template": {"spec": {
        "containers": [{"name": "main", "image": "img:2"}]}}}})
    eventually(lambda: len(apps.list_namespaced_replica_set("default").items) == 2)
    new_rs = next(r for r in apps.list_namespaced_replica_set("default").items
                  if r.spec.template.spec.containers[0].image == "img:2")
    assert new_rs.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    new_selector = f"pod-template-hash={new_rs.metadata.labels['pod-template-hash']}"
    # the rollout advances only as new pods become ready (a kubelet's job; done by hand here)
    for _ in range(20):
        fresh = [p for p in pods(new_selector) if not any(
            c.type == "Ready" for c in (p.status.conditions or []))]
        mark_ready(core, fresh)
        d = apps.read_namespaced_deployment("web", "default")
        conds = {c.type: c.reason for c in d.status.conditions or []}
        if conds.get("Progressing") == "NewReplicaSetAvailable" and d.status.updated_replicas == 2:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"rollout did not finish: {d.status}")
    old = [r for r in apps.list_namespaced_replica_set("default").items if r.metadata.name != new_rs.metadata.name]
    assert old[0].spec.replicas == 0
    eventually(lambda: len(pods()) == 2 and all(p.spec.containers[0].image == "img:2" for p in pods()))
    assert apps.read_namespaced_deployment("web", "default").metadata.annotations[
        "deployment.kubernetes.io/revision"] == "2"

    apps.delete_namespaced_deployment("web", "default")
    eventually(lambda: not apps.list_namespaced_replica_set("default").items and not pods())


def test_progress_deadline_exceeded(apps, core):
    body = deployment("slow", 1)
    body.spec.progress_deadline_seconds = 1
    apps.create_namespaced_deployment("default", body)

    def reason():
        d = apps.read_namespaced_deployment("slow", "default")
        return {c.type: c.reason for c in d.status.conditions or []}.get("Progressing")
    eventually(lambda: reason() == "ProgressDeadlineExceeded", timeout=15)
    pod = core.list_namespaced_pod("default", label_selector="app=slow").items[0]
    mark_ready(core, [pod])
    eventually(lambda: reason() == "NewReplicaSetAvailable")


def test_min_ready_seconds_delays_availability(apps, core):
    body = deployment("patient", 1)
    body.spec.min_ready_seconds = 2
    apps.create_namespaced_deployment("default", body)
    pod = eventually(lambda: core.list_namespaced_pod("default", label_selector="app=patient").items)[0]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    core.patch_namespaced_pod_status(pod.metadata.name, "default", {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}})
    started = time.monotonic()
    eventually(lambda: (apps.read_namespaced_deployment("patient", "default").status.ready_replicas or 0) == 1)
    assert (apps.read_namespaced_deployment("patient", "default").status.available_replicas or 0) == 0
    eventually(lambda: (apps.read_namespaced_deployment("patient", "default").status.available_replicas or 0) == 1)
    assert time.monotonic() - started >= 0.9


def test_recreate_strategy_waits_for_old_pods(apps, core):
    strategy = client.V1DeploymentStrategy(type="Recreate")
    apps.create_namespaced_deployment("default", deployment("rec", 2, strategy=strategy))
    eventually(lambda: len(core.list_namespaced_pod("default", label_selector="app=rec").items) == 2)
    apps.patch_namespaced_deployment("rec", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "main", "image": "img:9"}]}}}})

    def images():
        return sorted(p.spec.containers[0].image
                      for p in core.list_namespaced_pod("default", label_selector="app=rec").items)
    eventually(lambda: images() == ["img:9", "img:9"])


def test_custom_objects_through_the_client(k8s_client, crd_dataset):
    objs = client.CustomObjectsApi(k8s_client)
    body = {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "ds"},
            "spec": {"url": "/data/train.txt", "format": "txt", "nodeName": "edge0"}}
    created = objs.create_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", body)
    assert created["metadata"]["generation"] == 1
    patched = objs.patch_namespaced_custom_object_status("sedna.io", "v1alpha1", "default", "datasets", "ds",
                                                         {"status": {"numberOfSamples": 5}})
    assert patched["status"]["numberOfSamples"] == 5 and patched["metadata"]["generation"] == 1
    patched = objs.patch_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", "ds",
                                                  {"spec": {"format": "csv"}})
    assert patched["metadata"]["generation"] == 2 and patched["status"]["numberOfSamples"] == 5
    listing = objs.list_cluster_custom_object("sedna.io", "v1alpha1", "datasets")
    assert listing["kind"] == "DatasetList" and listing["apiVersion"] == "sedna.io/v1alpha1"
    with pytest.raises(ApiException) as err:
        objs.patch_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", "ds",
                                            {"spec": {"url": 5}})
    assert err.value.status == 422 and "spec.url" in err.value.body
    replaced = dict(patched, spec=dict(patched["spec"], url="/other"))
    objs.replace_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", "ds", replaced)
    with pytest.raises(ApiException) as err:   # stale resourceVersion
        objs.replace_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", "ds", replaced)
    assert err.value.status == 409
    objs.delete_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", "ds")
    assert objs.list_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets")["items"] == []


@pytest.fixture
def crd_dataset(k8s_client, reference_dir):
    import yaml

    crd = yaml.safe_load((reference_dir / "crds" / "sedna.io_datasets.yaml").read_text())
    client.ApiextensionsV1Api(k8s_client).create_custom_resource_definition(crd)
    return crd
