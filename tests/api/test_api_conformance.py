"""Conformance with upstream Sedna: every upstream CRD field path exists in ours with the same type, and the
upstream samples validate against our generated schemas and models (two documented exceptions)."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from api_reference import REJECTED_SAMPLES, needs_reference, sample_docs, sample_files, upstream_schema

from sedna.api import crdgen, k8s
from sedna.api.registry import KINDS, get_kind, is_sedna, parse_object
from sedna.api.validate import validate_object


def field_types(schema: dict, path: str = "", out: dict | None = None) -> dict[str, str]:
    """Every field path of a schema (``.a.b[]`` for list items, ``{}`` for map values) with its type."""
    out = {} if out is None else out
    out[path] = "int-or-string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
    for name, sub in schema.get("properties", {}).items():
        field_types(sub, f"{path}.{name}", out)
    if isinstance(schema.get("additionalProperties"), dict):
        field_types(schema["additionalProperties"], f"{path}{{}}", out)
    if isinstance(schema.get("items"), dict):
        field_types(schema["items"], f"{path}[]", out)
    return out


@pytest.mark.parametrize("info", KINDS, ids=lambda k: k.kind)
@needs_reference
def test_every_upstream_field_path_exists_with_same_type(info):
    theirs = field_types(upstream_schema(info.plural))
    ours = field_types(crdgen.openapi_schema(info.kind))
    missing = sorted(p for p in theirs if p not in ours)
    assert not missing, f"{len(missing)} upstream paths missing, e.g. {missing[:5]}"
    differing = sorted((p, theirs[p], ours[p]) for p in theirs if theirs[p] != ours[p])
    assert not differing, differing[:5]
    assert len(theirs) > 10


# Documented Sedna extensions (docs/gm.md): a Kubernetes-Job-like backoffLimit for the jobs whose upstream spec
# does not inline a batch/v1 JobSpec.
EXTENSIONS = {kind: {".spec.backoffLimit"} for kind in
              ("FederatedLearningJob", "IncrementalLearningJob", "LifelongLearningJob")}


@pytest.mark.parametrize("info", KINDS, ids=lambda k: k.kind)
@needs_reference
def test_our_additions_are_only_template_metadata(info):
    theirs = field_types(upstream_schema(info.plural))
    extra = sorted(p for p in field_types(crdgen.openapi_schema(info.kind)) if p not in theirs)
    extra = [p for p in extra if p not in EXTENSIONS.get(info.kind, set())]
    assert all(".metadata." in p for p in extra), extra[:5]


def test_field_walk_sees_a_difference():
    schema = crdgen.openapi_schema("Dataset")
    changed = copy.deepcopy(schema)
    changed["properties"]["spec"]["properties"]["url"]["type"] = "integer"
    assert field_types(schema) != field_types(changed)


def _sedna_docs():
    for path in sample_files():
        for index, doc in enumerate(sample_docs(path.name)):
            if is_sedna(doc):
                yield pytest.param(path.name, doc, id=f"{path.name}:{index}")


SEDNA_DOCS = list(_sedna_docs())
ACCEPTED = [p for p in SEDNA_DOCS if p.values[0] not in REJECTED_SAMPLES]
REJECTED = [p for p in SEDNA_DOCS if p.values[0] in REJECTED_SAMPLES]


@needs_reference
def test_samples_cover_every_kind():
    assert {p.values[1]["kind"] for p in SEDNA_DOCS} == {k.kind for k in KINDS}
    assert len(REJECTED) == 2


@pytest.mark.parametrize("name, doc", ACCEPTED)
@needs_reference
def test_sample_validates_against_generated_schema(name, doc):
    schema = crdgen.openapi_schema(doc["kind"])
    jsonschema.Draft7Validator(schema).validate(doc)
    jsonschema.Draft7Validator(k8s.strict(schema)).validate(doc)  # no unknown fields either


@pytest.mark.parametrize("name, doc", ACCEPTED)
@needs_reference
def test_sample_validates_against_upstream_schema_too(name, doc):
    jsonschema.Draft7Validator(upstream_schema(get_kind(doc["kind"]).plural)).validate(doc)


@pytest.mark.parametrize("name, doc", ACCEPTED)
@needs_reference
def test_sample_loads_into_model(name, doc):
    obj = parse_object(doc)
    assert type(obj) is get_kind(doc["kind"]).model
    assert obj.metadata.name == doc["metadata"]["name"]


@pytest.mark.parametrize("name, doc", ACCEPTED)
@needs_reference
def test_sample_has_no_errors(name, doc):
    assert [i for i in validate_object(doc) if i.severity == "error"] == []


# Upstream's object search/tracking samples put a YAML list into an env var value and omit the
# reidWorkers selector that apps/v1 DeploymentSpec requires; upstream's own CRDs reject them, so do we.
EXPECTED_REJECTIONS = [
    "spec.reidWorkers.selector: required field is missing",
    ("spec.trackingWorkers[0].template.spec.containers[0].env[0].value: expected string, got array "
     "['192.168.0.12', '192.168.0.13']"),
    ("spec.trackingWorkers[1].template.spec.containers[0].env[0].value: expected string, got array "
     "['192.168.0.10', '192.168.0.11']"),
]


@pytest.mark.parametrize("name, doc", REJECTED)
@needs_reference
def test_odd_samples_are_rejected_like_upstream(name, doc):
    assert [str(i) for i in validate_object(doc)] == EXPECTED_REJECTIONS
    upstream = jsonschema.Draft7Validator(upstream_schema(get_kind(doc["kind"]).plural))
    upstream_paths = sorted(".".join(map(str, e.absolute_path)) for e in upstream.iter_errors(doc))
    assert upstream_paths == ["spec.reidWorkers",
                              "spec.trackingWorkers.0.template.spec.containers.0.env.0.value",
                              "spec.trackingWorkers.1.template.spec.containers.0.env.0.value"]


def _repaired(doc: dict) -> dict:
    fixed = copy.deepcopy(doc)
    for worker in fixed["spec"]["trackingWorkers"]:
        for env in worker["template"]["spec"]["containers"][0]["env"]:
            if isinstance(env["value"], list):
                env["value"] = ",".join(env["value"])
    fixed["spec"]["reidWorkers"]["selector"] = {"matchLabels": {"app": "reid"}}
    return fixed


@pytest.mark.parametrize("name, doc", REJECTED)
@needs_reference
def test_odd_samples_pass_once_repaired(name, doc):
    fixed = _repaired(doc)
    assert [i for i in validate_object(fixed) if i.severity == "error"] == []
    obj = parse_object(fixed)
    assert obj.spec.reid_workers.replicas == 5
    assert obj.spec.reid_workers.selector == {"matchLabels": {"app": "reid"}}
