"""CRD registration, discovery, validation, defaulting and printing with upstream Sedna's CRDs and samples."""

from __future__ import annotations

import copy
import functools
import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from sedna.api import yamlio

# upstream samples that do not satisfy upstream's own CRD schemas (a real API server rejects them too)
INVALID_SAMPLES = {
    "objectsearchservice_v1alpha1.yaml": ["spec.reidWorkers.selector",
                                          "spec.trackingWorkers[0].template.spec.containers[0].env[0].value"],
    "objecttrackingservice_v1alpha1.yaml": ["spec.reidWorkers.selector"],
}
TEMPLATES = {"lifelong_learning_robot-dog-delivery.yaml"}   # has "$job_name" placeholders


@functools.cache
def upstream_crds(reference_dir):
    return tuple(yamlio.load(path.read_text()) for path in sorted((reference_dir / "crds").glob("*.yaml")))


def register_all(k8s_client, reference_dir):
    for crd in upstream_crds(reference_dir):
        # the client's model decoding of megabyte schemas is slow (the server is not): post raw
        code, body = raw(k8s_client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", method="POST",
                         body=crd)
        assert code == 201, body


def raw(api_client, path, accept="application/json", method="GET", body=None):
    """A request without the client's model decoding; returns (status, decoded body)."""
    import urllib3
    resp = urllib3.PoolManager().request(method, api_client.configuration.host + path, headers={
        "Accept": accept, "Content-Type": "application/json"}, body=json.dumps(body) if body else None,
        timeout=30)
    return json.loads(resp.data) if method == "GET" else (resp.status, json.loads(resp.data))


def test_upstream_crds_are_discovered(k8s_client, reference_dir):
    register_all(k8s_client, reference_dir)
    groups = raw(k8s_client, "/apis")
    sedna = next(g for g in groups["groups"] if g["name"] == "sedna.io")
    assert {v["version"] for v in sedna["versions"]} >= {"v1alpha1"}
    resources = raw(k8s_client, "/apis/sedna.io/v1alpha1")
    assert resources["kind"] == "APIResourceList" and resources["groupVersion"] == "sedna.io/v1alpha1"
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["datasets"]["kind"] == "Dataset" and by_name["datasets"]["namespaced"] is True
    assert "datasets/status" in by_name
    assert "shortNames" not in by_name["datasets/status"]
    assert by_name["featureextractionservices"]["shortNames"] == ["fe"]
    assert set(by_name["datasets"]["verbs"]) >= {"get", "list", "watch", "create", "update", "patch", "delete"}
    crd = client.ApiextensionsV1Api(k8s_client).read_custom_resource_definition("datasets.sedna.io")
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}


def test_upstream_samples_validate(k8s_client, reference_dir):
    register_all(k8s_client, reference_dir)
    objs = client.CustomObjectsApi(k8s_client)
    created = 0
    for path in sorted((reference_dir / "samples").glob("*.yaml")):
        if path.name in TEMPLATES:
            continue
        for doc in yamlio.load_all(path.read_text()):
            group, version = doc["apiVersion"].split("/")
            plural = doc["kind"].lower() + "s"
            doc["metadata"]["name"] = f"{doc['metadata']['name']}-{created}"
            if path.name in INVALID_SAMPLES:
                with pytest.raises(ApiException) as err:
                    objs.create_namespaced_custom_object(group, version, "default", plural, doc)
                status = json.loads(err.value.body)
                assert err.value.status == 422 and status["reason"] == "Invalid"
                fields = {c["field"] for c in status["details"]["causes"]}
                assert set(INVALID_SAMPLES[path.name]) <= fields, fields
                continue
            objs.create_namespaced_custom_object(group, version, "default", plural, doc)
            created += 1
    assert created >= 12


def test_schema_violations_defaulting_and_pruning(k8s_client, reference_dir):
    register_all(k8s_client, reference_dir)
    objs = client.CustomObjectsApi(k8s_client)
    bad = {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "bad"},
           "spec": {"url": "/x", "format": 7}}
    with pytest.raises(ApiException) as err:
        objs.create_namespaced_custom_object("sedna.io", "v1alpha1", "default", "datasets", bad)
    status = json.loads(err.value.body)
    assert err.value.status == 422 and status["kind"] == "Status" and status["code"] == 422
    causes = {(c["field"], c["reason"]) for c in status["details"]["causes"]}
    assert causes == {("spec.format", "FieldValueTypeInvalid"), ("spec.nodeName", "FieldValueRequired")}
    assert 'Dataset.sedna.io "bad" is invalid' in status["message"]

    sample = yamlio.load_all((reference_dir / "samples" / "jointinferenceservice_v1alpha1.yaml").read_text())[0]
    worker = next(w for w in sample["spec"].values() if isinstance(w, dict) and "template" in w
                  and w["template"]["spec"]["containers"][0].get("ports"))
    worker["template"]["spec"]["containers"][0]["ports"][0].pop("protocol")
    worker["template"]["spec"]["containers"][0]["notAField"] = True
    created = objs.create_namespaced_custom_object("sedna.io", "v1alpha1", "default", "jointinferenceservices",
                                                   sample)
    key = next(k for k, w in sample["spec"].items() if w is worker)
    container = created["spec"][key]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["protocol"] == "TCP", "defaults come from the schema"
    assert "notAField" not in container, "unknown fields are pruned"
    strict = copy.deepcopy(sample)
    strict["metadata"]["name"] = "strict"
    code, status = raw(k8s_client, "/apis/sedna.io/v1alpha1/namespaces/default/jointinferenceservices"
                                    "?fieldValidation=Strict", method="POST", body=strict)
    assert code == 400 and "notAField" in status["message"]


MULTI = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [
                 {"name": "v1", "served": True, "storage": True, "subresources": {
                     "status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.count",
                                             "labelSelectorPath": ".status.selector"}},
                  "additionalPrinterColumns": [
                      {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                      {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}],
                  "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                      "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1}}},
                      "status": {"type": "object", "properties": {"phase": {"type": "string"},
                                                                  "count": {"type": "integer"},
                                                                  "selector": {"type": "string"}}}}}}},
                 {"name": "v2", "served": True, "storage": False,
                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                 {"name": "v0", "served": False, "storage": False,
                  "schema": {"openAPIV3Schema": {"type": "object"}}}]},
}


def test_versions_tables_and_crd_removal(k8s_client):
    ext = client.ApiextensionsV1Api(k8s_client)
    ext.create_custom_resource_definition(MULTI)
    objs = client.CustomObjectsApi(k8s_client)
    objs.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                         {"apiVersion": "example.com/v1", "kind": "Widget",
                                          "metadata": {"name": "w"}, "spec": {}})
    seen = objs.get_namespaced_custom_object("example.com", "v2", "default", "widgets", "w")
    assert seen["apiVersion"] == "example.com/v2" and seen["spec"] == {"size": 1}
    with pytest.raises(ApiException) as err:
        objs.list_namespaced_custom_object("example.com", "v0", "default", "widgets")
    assert err.value.status == 404
    objs.patch_namespaced_custom_object_status("example.com", "v1", "default", "widgets", "w",
                                               {"status": {"phase": "Ready"}})
    scale = objs.patch_namespaced_custom_object_scale("example.com", "v1", "default", "widgets", "w",
                                                      {"spec": {"replicas": 4}})
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 4
    objs.patch_namespaced_custom_object_status("example.com", "v1", "default", "widgets", "w",
                                               {"status": {"count": 4, "selector": "app=w"}})
    scale = objs.get_namespaced_custom_object_scale("example.com", "v1", "default", "widgets", "w")
    assert scale["status"] == {"replicas": 4, "selector": "app=w"}
    assert objs.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")["spec"]["size"] == 4
    objs.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w", {"spec": {"size": 1}})
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = raw(k8s_client, "/apis/example.com/v1/namespaces/default/widgets", accept)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Phase"]
    assert table["rows"][0]["cells"] == ["w", 1, "Ready"]
    assert table["rows"][0]["object"]["metadata"]["name"] == "w"
    meta_only = raw(k8s_client, "/apis/example.com/v1/namespaces/default/widgets",
                    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
    assert meta_only["kind"] == "PartialObjectMetadataList"
    item = meta_only["items"][0]
    assert set(item) == {"kind", "apiVersion", "metadata"} and item["kind"] == "PartialObjectMetadata"
    assert (item["metadata"]["name"], item["metadata"]["uid"]) == ("w", seen["metadata"]["uid"])
    pods = raw(k8s_client, "/api/v1/namespaces/default/pods", accept)
    assert [c["name"] for c in pods["columnDefinitions"]][:3] == ["Name", "Ready", "Status"]
    ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as err:
        objs.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert err.value.status == 404
    groups = [g["name"] for g in raw(k8s_client, "/apis")["groups"]]
    assert "example.com" not in groups
    # re-registering serves an empty collection: the old objects went with the CRD
    ext.create_custom_resource_definition(MULTI)
    assert objs.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["items"] == []


def test_invalid_crd_is_rejected(k8s_client):
    bad = copy.deepcopy(MULTI)
    bad["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(ApiException) as err:
        client.ApiextensionsV1Api(k8s_client).create_custom_resource_definition(bad)
    assert err.value.status == 422 and "metadata.name" in err.value.body


def test_openapi_v3_documents_let_kubectl_validate_on_the_server(k8s_client):
    root = raw(k8s_client, "/openapi/v3")
    assert {"api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1"} <= set(root["paths"])
    doc = raw(k8s_client, root["paths"]["apis/apps/v1"]["serverRelativeURL"])
    patches = [op["patch"] for op in doc["paths"].values() if "patch" in op]
    kinds = {p["x-kubernetes-group-version-kind"]["kind"] for p in patches}
    assert {"Deployment", "ReplicaSet"} <= kinds
    assert all(any(prm["name"] == "fieldValidation" and prm["in"] == "query" for prm in p["parameters"])
               for p in patches)
    client.ApiextensionsV1Api(k8s_client).create_custom_resource_definition(MULTI)
    after = raw(k8s_client, "/openapi/v3")
    assert "apis/example.com/v1" in after["paths"] and "apis/example.com/v0" not in after["paths"]
    assert after["paths"]["apis/apps/v1"] == root["paths"]["apis/apps/v1"], "unchanged groups keep their hash"
    widgets = raw(k8s_client, after["paths"]["apis/example.com/v1"]["serverRelativeURL"])
    schema = widgets["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["properties"]["spec"]["properties"]["size"]["type"] == "integer"
    code, _ = raw(k8s_client, "/openapi/v3/apis/nothing/v1", method="POST", body={})
    assert code in (404, 405)
