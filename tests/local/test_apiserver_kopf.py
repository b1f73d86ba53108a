"""A real kopf operator process against the emulator: create handlers run exactly once, children are
adopted and garbage-collected, status goes through the status subresource, finalizers are honoured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import support_procs
import yaml
from kubernetes import client, config
from support_procs import stop_process

OPERATOR = Path(__file__).parent / "operators" / "dataset_child_operator.py"
KOPF = Path(sys.executable).parent / "kopf"


def wait_for(check, timeout=30.0, interval=0.1, what="condition"):
    return support_procs.wait_for(check, timeout, what, interval)


def start_operator(apiserver, record, log_path, scope):
    env = dict(os.environ, KUBECONFIG=str(apiserver.kubeconfig), OPERATOR_RECORD=str(record))
    log = log_path.open("a")
    proc = subprocess.Popen([str(KOPF), "run", "--standalone", *scope, "--verbose", str(OPERATOR)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop_operator(proc):
    stop_process(proc, 15)


@pytest.fixture(params=[["--namespace", "default"], ["--all-namespaces"]], ids=["namespaced", "cluster-wide"])
def operator(apiserver, tmp_path, reference_dir, request):
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(apiserver.kubeconfig), client_configuration=configuration)
    api_client = client.ApiClient(configuration)
    crd = yaml.safe_load((reference_dir / "crds" / "sedna.io_datasets.yaml").read_text())
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    record = tmp_path / "record.txt"
    record.touch()
    procs = [start_operator(apiserver, record, tmp_path / "kopf.log", request.param)]
    restart = lambda: procs.append(start_operator(apiserver, record, tmp_path / "kopf.log",
                                                  request.param))
    try:
        yield api_client, record, procs, restart
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop_operator(proc)
        api_client.close()
        if os.environ.get("SHOW_KOPF_LOG"):
            print((tmp_path / "kopf.log").read_text())


def test_kopf_operator_creates_child_once_and_cleans_up(operator, reference_dir):
    api_client, record, procs, restart = operator
    objs = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    sample = yaml.safe_load((reference_dir / "samples" / "dataset_v1alpha1.yaml").read_text())
    name = sample["metadata"]["name"]
    objs.create_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", sample)

    child = wait_for(lambda: next((c for c in core.list_namespaced_config_map("default").items
                                   if c.metadata.name == f"{name}-child"), None), what="the child ConfigMap")
    ds = objs.get_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", name)
    assert child.metadata.owner_references[0].uid == ds["metadata"]["uid"]
    assert child.data == {"url": sample["spec"]["url"]}
    pod = wait_for(lambda: next(iter(core.list_namespaced_pod("default", label_selector=f"dataset={name}").items),
                                None), what="the worker pod (Deployment → ReplicaSet → Pod)")
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    wait_for(lambda: objs.get_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", name)
             .get("status", {}).get("numberOfSamples") == 3, what="the status patch")
    ds = objs.get_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", name)
    assert ds["metadata"].get("finalizers"), "kopf adds its finalizer (JSON patch with a resourceVersion test)"
    assert "kopf.zalando.org/last-handled-configuration" in ds["metadata"].get("annotations", {})
    # kopf re-lists and re-watches over time; stale events must not run the handler again
    time.sleep(3)
    assert record.read_text().splitlines() == [f"create {name}"]
    assert procs[0].poll() is None, "the operator is still running"
    # a restarted operator finds the object handled (kopf's annotations) and does not create again
    stop_operator(procs[0])
    restart()
    time.sleep(3)
    assert record.read_text().splitlines() == [f"create {name}"]
    events = core.list_namespaced_event("default").items
    assert any(e.involved_object.name == name for e in events), "kopf posts events (generateName)"

    objs.delete_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", name)
    wait_for(lambda: not objs.list_namespaced_custom_object("sedna.io", "v1alpha1", "default",
                                                            "datasets")["items"], what="the Dataset to go")
    wait_for(lambda: not [c for c in core.list_namespaced_config_map("default").items
                          if c.metadata.name == f"{name}-child"], what="the child to be collected")
    apps = client.AppsV1Api(api_client)
    wait_for(lambda: not apps.list_namespaced_deployment("default").items and
             not apps.list_namespaced_replica_set("default").items and
             not core.list_namespaced_pod("default").items, what="the Deployment chain to be collected")
    assert record.read_text().splitlines() == [f"create {name}", f"delete {name}"]
