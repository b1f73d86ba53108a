"""Generated CRDs: committed files are current, deterministic, structural, and carry upstream's names."""

from __future__ import annotations

import filecmp

import pytest
from api_reference import REPO, needs_reference, upstream_crd

from sedna.api import crdgen, k8s, structural, yamlio
from sedna.api.registry import KINDS

COMMITTED = REPO / "deploy" / "crds"


def test_committed_crds_match_regeneration(tmp_path):
    written = crdgen.write_crds(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in COMMITTED.glob("*.yaml"))
    assert committed == sorted(p.name for p in written), "run `sedna crds generate` and commit deploy/crds"
    stale = [p.name for p in written if not filecmp.cmp(p, COMMITTED / p.name, shallow=False)]
    assert not stale, f"deploy/crds is out of date for {stale}; run `sedna crds generate`"


def test_generation_is_deterministic():
    info = next(k for k in KINDS if k.kind == "JointInferenceService")
    first = crdgen.render(info)
    crdgen._openapi_schema_cached.cache_clear()
    k8s._structural_cached.cache_clear()
    assert crdgen.render(info) == first


def test_write_crds_leaves_unchanged_files_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(crdgen, "KINDS", KINDS[:2])
    paths = crdgen.write_crds(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in paths}
    crdgen.write_crds(tmp_path)
    assert {p: p.stat().st_mtime_ns for p in paths} == before


@pytest.mark.parametrize("info", KINDS, ids=lambda k: k.kind)
def test_crd_is_structural(info):
    crd = yamlio.load((COMMITTED / crdgen.crd_filename(info)).read_text(encoding="utf-8"))
    (version,) = crd["spec"]["versions"]
    assert structural.violations(version["schema"]["openAPIV3Schema"]) == []


@pytest.mark.parametrize("info", KINDS, ids=lambda k: k.kind)
@needs_reference
def test_crd_names_and_shape_follow_upstream(info):
    ours = yamlio.load((COMMITTED / crdgen.crd_filename(info)).read_text(encoding="utf-8"))
    theirs = upstream_crd(info.plural)
    assert ours["apiVersion"] == "apiextensions.k8s.io/v1"
    assert ours["metadata"]["name"] == theirs["metadata"]["name"] == f"{info.plural}.sedna.io"
    for key in ("kind", "listKind", "plural", "singular"):
        assert ours["spec"]["names"][key] == theirs["spec"]["names"][key]
    assert ours["spec"]["names"].get("shortNames") == theirs["spec"]["names"].get("shortNames")
    assert ours["spec"]["scope"] == "Namespaced" == theirs["spec"]["scope"]
    (version,) = ours["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = version["additionalPrinterColumns"]
    assert columns[-1] == {"name": "Age", "jsonPath": ".metadata.creationTimestamp", "type": "date"}
    for column in columns:
        path = column["jsonPath"].lstrip(".").split(".")
        node = version["schema"]["openAPIV3Schema"]
        if path[0] != "metadata":
            for part in path:
                name, _, index = part.partition("[")      # conditions[-1:] = the items of conditions
                node = node["properties"][name]
                if index:
                    node = node["items"]
            assert node["type"] == column["type"], column


# The checker must be able to fail: each schema breaks one structural rule.
@pytest.mark.parametrize("schema, fragment", [
    ({"type": "object", "properties": {"a": {"description": "untyped"}}}, "type is missing"),
    ({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "$ref is not allowed"),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {},
                                             "additionalProperties": {"type": "string"}}}},
     "mutually exclusive"),
    ({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}},
     "inside a logical junctor"),
    ({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
                                             "x-kubernetes-list-map-keys": ["k"],
                                             "items": {"type": "object", "properties": {
                                                 "k": {"type": "string"}}}}}},
     "must be required or have a default"),
    ({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-patch-strategy": "merge"}}},
     "unknown JSONSchemaProps field"),
    ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "labels": {"type": "object"}}}}}, "only type/description allowed"),
    ({"type": "object", "properties": {"a": {"type": ["string", "null"]}}}, "is not one of"),
    ({"type": "object", "properties": {"a": {"type": "array"}}}, "array without items"),
])
def test_structural_checker_rejects(schema, fragment):
    assert any(fragment in v for v in structural.violations(schema)), structural.violations(schema)


def test_list_map_keys_get_required_or_default():
    containers = k8s.structural(k8s.POD_TEMPLATE_SPEC)["properties"]["spec"]["properties"]["containers"]
    ports = containers["items"]["properties"]["ports"]
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert ports["items"]["properties"]["protocol"]["default"] == "TCP"
    aliases = k8s.structural(k8s.POD_TEMPLATE_SPEC)["properties"]["spec"]["properties"]["hostAliases"]
    assert "ip" in aliases["items"]["required"]


def test_template_metadata_keeps_labels_and_annotations():
    meta = k8s.structural(k8s.POD_TEMPLATE_SPEC)["properties"]["metadata"]
    assert sorted(meta["properties"]) == sorted(k8s.EMBEDDED_META_FIELDS)
    assert meta["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_pinned_kubernetes_schema_matches_kubernetes_validate():
    kv = pytest.importorskip("kubernetes_validate")
    from pathlib import Path

    source = Path(kv.__file__).parent / "kubernetes-json-schema" / f"v{k8s.K8S_VERSION}-local"
    if not source.is_dir():
        pytest.skip(f"kubernetes-validate has no schemas for {k8s.K8S_VERSION}")
    assert k8s.PIN_PATH.read_text(encoding="utf-8") == k8s.pin_text(source)


def test_cli_generate_writes_files(tmp_path, monkeypatch, capsys):
    from sedna.cli import main

    monkeypatch.setattr(crdgen, "KINDS", KINDS[:2])
    assert main(["crds", "generate", "--output-dir", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").glob("sedna.io_*.yaml"))
    assert names == ["sedna.io_datasets.yaml", "sedna.io_models.yaml"]
    assert capsys.readouterr().out.split() == [str(tmp_path / "out" / n) for n in
                                               ("sedna.io_datasets.yaml", "sedna.io_models.yaml")]


def test_apply_defaults_and_prune_unknown_like_the_apiserver():
    schema = crdgen.openapi_schema("IncrementalLearningJob")
    pod = {"metadata": {"labels": {"a": "b"}, "creationTimestamp": "x"},
           "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}], "colour": "red"}]}}
    obj = {"apiVersion": "sedna.io/v1alpha1", "kind": "IncrementalLearningJob",
           "metadata": {"name": "il", "uid": "u1", "managedFields": [{"manager": "m"}]},
           "spec": {"deploySpec": {"model": {"name": "m"}, "template": pod}, "extra": 1}}
    defaulted = structural.apply_defaults(schema, obj)
    assert defaulted["spec"]["deploySpec"]["model"]["pollPeriodSeconds"] == 60
    port = defaulted["spec"]["deploySpec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert port == {"containerPort": 80, "protocol": "TCP"}
    assert "pollPeriodSeconds" not in obj["spec"]["deploySpec"]["model"]  # input untouched
    pruned = structural.prune_unknown(schema, obj)
    assert pruned["metadata"] == obj["metadata"]
    assert "extra" not in pruned["spec"]
    template = pruned["spec"]["deploySpec"]["template"]
    assert template["metadata"] == {"labels": {"a": "b"}}
    assert template["spec"]["containers"][0] == {"name": "c", "ports": [{"containerPort": 80}]}


@pytest.mark.parametrize("info", KINDS, ids=lambda k: k.kind)
def test_crd_object_passes_kubernetes_strict_validation(info):
    kv = pytest.importorskip("kubernetes_validate")
    kv.validate(crdgen.crd(info), k8s.K8S_VERSION, strict=True)  # raises on any unknown or mistyped field


def test_kubernetes_strict_validation_catches_stray_schema_keys():
    kv = pytest.importorskip("kubernetes_validate")
    import copy

    bad = copy.deepcopy(crdgen.crd(KINDS[0]))
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["url"][
        "x-kubernetes-patch-strategy"] = "merge"
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, k8s.K8S_VERSION, strict=True)
