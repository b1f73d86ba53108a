"""Worker object construction (gm.md §2-3): names, labels, storage injection, hot update."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_testlib import s3_secret, validate

from sedna.gm.runtime.names import dns_label, service_host, worker_labels
from sedna.gm.runtime.storage import Mount, inject_storage, s3_env_from_secret
from sedna.gm.runtime.workers import (
    HotUpdate,
    Owner,
    Worker,
    build_deployment,
    build_hpa,
    build_pod,
    build_service,
    hot_update_config_path,
)

OWNER = Owner("JointInferenceService", {"name": "myji", "namespace": "ns1", "uid": "u-1"})
TEMPLATE = {"metadata": {"name": "ignored", "labels": {"app": "x", "jointinferenceservice.sedna.io/name": "bad"},
                         "annotations": {"a": "b"}},
            "spec": {"nodeName": "edge-1", "containers": [{"name": "c", "image": "img",
                                                            "env": [{"name": "USER", "value": "1"},
                                                                    {"name": "NAMESPACE", "value": "user"}]}]}}


@pytest.mark.parametrize("text,expected", [
    ("/output/train/", "output-trainz"),
    ("/data", "data"),
    ("/Data_Set/x.y", "data-set-x-y"),
    ("/", "sedna-default-volume-name"),
    ("", "sedna-default-volume-name"),
    ("/" + "a" * 80, "a" * 63),
    ("//a//b", "a-b"),
])
def test_dns_label(text, expected):
    assert dns_label(text) == expected


def test_labels_and_service_host():
    assert worker_labels("JointInferenceService", "n", "u", "Cloud") == {
        "jointinferenceservice.sedna.io/name": "n", "jointinferenceservice.sedna.io/uid": "u",
        "jointinferenceservice.sedna.io/worker-type": "cloud"}
    assert service_host("MyJI", "Cloud", "ns") == "myji-cloud.ns"


def test_s3_env_from_secret():
    assert s3_env_from_secret(s3_secret(https="0")) == {
        "S3_ENDPOINT_URL": "http://minio:9000", "ACCESS_KEY_ID": "AK", "SECRET_ACCESS_KEY": "SK"}
    assert s3_env_from_secret(s3_secret(https="1"))["S3_ENDPOINT_URL"] == "https://minio:9000"
    no_endpoint = s3_secret()
    del no_endpoint["metadata"]["annotations"]["s3-endpoint"]
    assert s3_env_from_secret(no_endpoint) == {}
    assert s3_env_from_secret(None) == {}
    bare = {"metadata": {"name": "s"}, "data": {}}          # no annotations at all: no crash (upstream nil map)
    assert s3_env_from_secret(bare) == {}


def _spec():
    return {"containers": [{"name": "c", "image": "i"}, {"name": "d", "image": "i"}]}


def test_host_path_mount():
    spec = _spec()
    env = inject_storage(spec, [Mount(["/data/train.txt"], "DATASET_URL", download=True)])
    assert env == {"DATASET_URL": "/home/data/data/train.txt", "DATA_PATH_PREFIX": "/home/data"}
    assert spec["volumes"] == [{"name": "data", "hostPath": {"path": "/data", "type": "Directory"}}]
    for c in spec["containers"]:
        assert c["volumeMounts"] == [{"name": "data", "mountPath": "/home/data/data"}]
    assert "initContainers" not in spec


def test_s3_download_with_secret_and_http():
    spec = _spec()
    env = inject_storage(spec, [Mount(["s3://bucket/m/model.pb"], "MODEL_URL", s3_secret(), download=True),
                                Mount(["https://host:8080/d/data.txt"], "DATA_URL", download=True)])
    assert env == {"MODEL_URL": "/downloads/bucket/m/model.pb", "DATA_URL": "/downloads/host:8080/d/data.txt"}
    init = spec["initContainers"][0]
    assert init["name"] == "storage-initializer"
    assert init["image"] == "kubeedge/sedna-storage-initializer:v0.3.0"
    assert init["args"] == ["s3://bucket/m/model.pb", "/downloads/bucket/m/",
                            "https://host:8080/d/data.txt", "/downloads/host:8080/d/"]
    assert {e["name"]: e["value"] for e in init["env"]} == {
        "S3_ENDPOINT_URL": "http://minio:9000", "ACCESS_KEY_ID": "AK", "SECRET_ACCESS_KEY": "SK",
        "INDIRECT_URL_MARK": "@"}
    assert init["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert spec["volumes"] == [{"name": "sedna-storage-initializer", "emptyDir": {}}]
    for c in spec["containers"]:
        assert c["volumeMounts"] == [{"name": "sedna-storage-initializer", "mountPath": "/downloads",
                                      "readOnly": True}]
    # worker containers do not get the credentials when the initializer downloads
    assert "ACCESS_KEY_ID" not in env


def test_s3_not_downloaded_keeps_url_and_injects_credentials():
    spec = _spec()
    env = inject_storage(spec, [Mount(["s3://bucket/out"], "OUTPUT_URL", s3_secret(), download=False)])
    assert env == {"OUTPUT_URL": "s3://bucket/out", "S3_ENDPOINT_URL": "http://minio:9000",
                   "ACCESS_KEY_ID": "AK", "SECRET_ACCESS_KEY": "SK"}
    assert "initContainers" not in spec and "volumes" not in spec


def test_indirect_host_path_and_multi_url():
    spec = _spec()
    env = inject_storage(spec, [
        Mount(["/out/data/train/1/dataIndex.txt"], "ORIGINAL_DATASET_URL", download=True, indirect=True),
        Mount(["/models/a.pb", "/models/b.pb"], "MODEL_URLS", download=True)])
    assert env == {"ORIGINAL_DATASET_URL": "/downloads/out/data/train/1/dataIndex.txt",
                   "MODEL_URLS": "/home/data/models/a.pb;/home/data/models/b.pb",
                   "DATA_PATH_PREFIX": "/home/data"}
    init = spec["initContainers"][0]
    assert init["args"] == ["/home/data/out/data/train/1/dataIndex.txt", "@/downloads/out/data/train/1/"]
    # the index file's directory is mounted only into the initializer
    assert {"name": "out-data-train-1", "mountPath": "/home/data/out/data/train/1"} in init["volumeMounts"]
    for c in spec["containers"]:
        paths = [m["mountPath"] for m in c["volumeMounts"]]
        assert "/home/data/out/data/train/1" not in paths
        assert paths.count("/home/data/models") == 1
    names = [v["name"] for v in spec["volumes"]]
    assert len(names) == len(set(names))


def test_build_pod_rules():
    worker = Worker("Cloud", env={"NAMESPACE": "ns1", "X": "1"}, host_network=True, restart_policy="OnFailure",
                    dns_policy="ClusterFirstWithHostNet")
    pod = build_pod(OWNER, worker, TEMPLATE)
    meta = pod["metadata"]
    assert "name" not in meta and meta["generateName"] == "myji-cloud-"
    assert meta["namespace"] == "ns1"
    assert meta["labels"] == {"app": "x", "jointinferenceservice.sedna.io/name": "myji",
                              "jointinferenceservice.sedna.io/uid": "u-1",
                              "jointinferenceservice.sedna.io/worker-type": "cloud"}
    assert meta["annotations"] == {"a": "b"}
    assert meta["ownerReferences"] == [{"apiVersion": "sedna.io/v1alpha1", "kind": "JointInferenceService",
                                        "name": "myji", "uid": "u-1", "controller": True,
                                        "blockOwnerDeletion": True}]
    spec = pod["spec"]
    assert spec["hostNetwork"] is True and spec["restartPolicy"] == "OnFailure"
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet" and spec["nodeName"] == "edge-1"
    assert spec["containers"][0]["env"] == [{"name": "USER", "value": "1"}, {"name": "NAMESPACE", "value": "ns1"},
                                            {"name": "X", "value": "1"}]
    assert TEMPLATE["spec"]["containers"][0]["env"][1]["value"] == "user"   # template not mutated
    validate(pod)


def test_template_restart_policy_wins():
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}
    pod = build_pod(OWNER, Worker("train", restart_policy="OnFailure"), template)
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "hostNetwork" not in pod["spec"]


def test_deployment_service_hpa():
    dep = build_deployment(OWNER, Worker("Cloud", env={"A": "b"}), TEMPLATE, replicas=None)
    assert dep["metadata"]["name"] == "myji-deployment-cloud"
    assert dep["spec"]["selector"]["matchLabels"]["app.sedna.io"] == "myji-Cloud-svc"
    assert dep["spec"]["template"]["metadata"]["labels"]["app.sedna.io"] == "myji-Cloud-svc"
    assert "replicas" not in dep["spec"]
    validate(dep)
    svc = build_service(OWNER, "cloud", 5000)
    assert svc["metadata"]["name"] == "myji-cloud"
    assert svc["spec"]["ports"] == [{"name": "tcp-0", "protocol": "TCP", "port": 5000, "targetPort": 5000}]
    assert svc["spec"]["selector"]["jointinferenceservice.sedna.io/worker-type"] == "cloud"
    validate(svc)
    hpa = build_hpa(OWNER, "myji-deployment-cloud", {
        "minReplicas": 1, "maxReplicas": 3,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 50}}}]})
    assert hpa["metadata"]["name"] == "hpa-myji-deployment-cloud"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "myji-deployment-cloud"}
    validate(hpa)


def test_hot_update():
    owner = Owner("IncrementalLearningJob", {"name": "Job1", "namespace": "NS", "uid": "u"})
    assert hot_update_config_path(owner) == \
        "/var/lib/sedna/model-hot-update/ns/incrementallearningjob/job1/model_config.json"
    pod = build_pod(owner, Worker("inference", hot_update=HotUpdate(30)), TEMPLATE)
    spec = pod["spec"]
    assert {"name": "sedna-model-hot-update-volume", "hostPath": {
        "path": "/var/lib/sedna/model-hot-update/ns/incrementallearningjob/job1",
        "type": "DirectoryOrCreate"}} in spec["volumes"]
    assert {"name": "sedna-model-hot-update-volume", "mountPath": "/model-hot-update"} in \
        spec["containers"][0]["volumeMounts"]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env["MODEL_HOT_UPDATE"] == "true" and env["MODEL_POLL_PERIOD_SECONDS"] == "30"
    assert env["MODEL_HOT_UPDATE_CONFIG"] == "/model-hot-update/model_config.json"
    validate(pod)
