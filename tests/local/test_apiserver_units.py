"""Table tests of the emulator's pure parts: selectors, patches, CRD schemas, printer JSONPath."""

from __future__ import annotations

import copy

import pytest

from sedna.local.apiserver.patch import (
    PatchError,
    PatchTestFailed,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from sedna.local.apiserver.schema import CRSchema
from sedna.local.apiserver.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
    selector_from_object,
)
from sedna.local.apiserver.table import json_path

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize("text,expected", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("app notin (db, cache)", True),
    ("app notin (web)", False),
    ("tier", True),
    ("missing", False),
    ("!missing", True),
    ("!tier", False),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("app in (web),!missing,tier", True),
    ("version>2", True),
    ("version<3", False),
    ("example.com/role", False),
])
def test_label_selector_matching(text, expected):
    assert parse_label_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize("text", ["app in (web", "app=web)", "a b", "app=in valid", "-bad=x", "x in ()",
                                  "app==", "version>abc", "key=" + "v" * 64])
def test_label_selector_rejects_bad_syntax(text):
    if text == "app==":
        # an empty value is valid: it selects objects whose label is the empty string
        assert parse_label_selector(text).matches({"app": ""})
        return
    with pytest.raises(SelectorError):
        parse_label_selector(text)


def test_selector_from_object():
    sel = selector_from_object({"matchLabels": {"app": "web"},
                                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]},
                                                     {"key": "gone", "operator": "DoesNotExist"}]})
    assert sel.matches(LABELS)
    assert not sel.matches({"app": "web"})
    assert selector_from_object(None) is None
    assert selector_from_object({}).matches({})
    with pytest.raises(SelectorError):
        selector_from_object({"matchExpressions": [{"key": "a", "operator": "Near"}]})


POD = {"metadata": {"name": "p1", "namespace": "default"}, "spec": {"nodeName": "edge0"},
       "status": {"phase": "Running"}}


@pytest.mark.parametrize("text,expected", [
    ("metadata.name=p1", True),
    ("metadata.name==p2", False),
    ("metadata.name!=p2", True),
    ("spec.nodeName=edge0,status.phase=Running", True),
    ("spec.nodeName=", False),
    ("status.phase!=Running", False),
])
def test_field_selector(text, expected):
    allowed = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}
    assert parse_field_selector(text, allowed).matches(POD) is expected


def test_field_selector_rejects_unknown_fields_and_syntax():
    with pytest.raises(SelectorError, match="not supported"):
        parse_field_selector("spec.image=x", {"metadata.name"})
    with pytest.raises(SelectorError):
        parse_field_selector("metadata.name", {"metadata.name"})


# ---- patches ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target,patch,expected", [
    ({"a": 1, "b": {"c": 2}}, {"b": {"d": 3}}, {"a": 1, "b": {"c": 2, "d": 3}}),
    ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ({"a": {"b": 1}}, {"a": "x"}, {"a": "x"}),
    ({}, {"m": {"n": None}}, {"m": {}}),
])
def test_merge_patch(target, patch, expected):
    assert merge_patch(target, patch) == expected


DOC = {"metadata": {"resourceVersion": "5", "finalizers": ["a"]}, "spec": {"list": [1, 2, 3]}}


@pytest.mark.parametrize("ops,expected", [
    ([{"op": "add", "path": "/metadata/finalizers/-", "value": "b"}], ["a", "b"]),
    ([{"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
      {"op": "replace", "path": "/metadata/finalizers", "value": []}], []),
    ([{"op": "remove", "path": "/metadata/finalizers/0"}], []),
    ([{"op": "add", "path": "/metadata/finalizers/0", "value": "z"}], ["z", "a"]),
    ([{"op": "copy", "from": "/metadata/finalizers", "path": "/spec/copied"}], ["a"]),
    ([{"op": "move", "from": "/metadata/finalizers", "path": "/spec/moved"}, {"op": "add",
      "path": "/metadata/finalizers", "value": ["m"]}], ["m"]),
])
def test_json_patch(ops, expected):
    result = json_patch(DOC, ops)
    assert result["metadata"]["finalizers"] == expected
    assert DOC["metadata"]["finalizers"] == ["a"], "the target must not be changed in place"


def test_json_patch_test_failure_and_errors():
    with pytest.raises(PatchTestFailed):
        json_patch(DOC, [{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}])
    with pytest.raises(PatchTestFailed):
        json_patch(DOC, [{"op": "test", "path": "/metadata/nothing", "value": "4"}])
    for bad in ([{"op": "remove", "path": "/spec/list/9"}], [{"op": "explode", "path": "/a"}],
                [{"op": "replace", "path": "/nope/x", "value": 1}], {"op": "add"}, [{"path": "/a"}],
                [{"op": "add", "path": "no-slash", "value": 1}]):
        with pytest.raises(PatchError):
            json_patch(DOC, bad)


POD_SPEC = {"spec": {"containers": [
    {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
     "ports": [{"containerPort": 80}]},
    {"name": "b", "image": "b:1"}],
    "volumes": [{"name": "v1"}], "tolerations": [{"key": "t"}]},
    "metadata": {"finalizers": ["f1"]}}


def test_strategic_merge_patch_merges_lists_by_key():
    patch = {"spec": {"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "3"},
                                                                          {"name": "Z", "value": "4"}],
                                      "ports": [{"containerPort": 81}]}],
                      "volumes": [{"name": "v2"}], "tolerations": [{"key": "u"}]},
             "metadata": {"finalizers": ["f2"]}}
    out = strategic_merge_patch(POD_SPEC, patch)
    a, b = out["spec"]["containers"]
    assert a["image"] == "a:2" and b == {"name": "b", "image": "b:1"}
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]
    assert [p["containerPort"] for p in a["ports"]] == [80, 81]
    assert [v["name"] for v in out["spec"]["volumes"]] == ["v1", "v2"]
    assert out["spec"]["tolerations"] == [{"key": "u"}], "lists without a merge key are replaced"
    assert out["metadata"]["finalizers"] == ["f1", "f2"]


def test_strategic_merge_patch_directives():
    out = strategic_merge_patch(POD_SPEC, {"spec": {
        "containers": [{"name": "b", "$patch": "delete"}],
        "$setElementOrder/volumes": [{"name": "v1"}],
        "$deleteFromPrimitiveList/x": []}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a"]
    out = strategic_merge_patch(POD_SPEC, {"spec": {"$patch": "replace", "containers": []}})
    assert out["spec"] == {"containers": []}
    out = strategic_merge_patch(POD_SPEC, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"]}})
    assert out["metadata"]["finalizers"] == []
    out = strategic_merge_patch({"spec": {"ports": [{"port": 80, "name": "a"}]}},
                                {"spec": {"ports": [{"port": 80, "name": "b"}, {"port": 81}]}})
    assert out["spec"]["ports"] == [{"port": 80, "name": "b"}, {"port": 81}]
    with pytest.raises(PatchError):
        strategic_merge_patch(POD_SPEC, {"spec": {"containers": [{"image": "no-name"}]}})
    strategy = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    out = strategic_merge_patch(strategy, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}


# ---- CRD schemas -----------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {
            "type": "object", "required": ["url"],
            "properties": {
                "url": {"type": "string"},
                "format": {"type": "string", "default": "txt", "enum": ["txt", "csv"]},
                "replicas": {"type": "integer", "minimum": 0},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "protocol": {"type": "string", "default": "TCP"}}}},
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def test_schema_prunes_defaults_and_validates():
    schema = CRSchema(SCHEMA)
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "anything": 1},
           "spec": {"url": "/d", "unknown": 1, "note": None, "template": {"free": {"x": 1}},
                    "labels": {"a": "b"}, "items": [{}, {"protocol": "UDP", "junk": 2}], "port": "http"},
           "extra": True}
    pruned = schema.prune_and_default(obj)
    assert sorted(pruned) == ["extra", "spec.items[1].junk", "spec.unknown"]
    assert obj["spec"]["format"] == "txt"
    assert obj["spec"]["items"] == [{"protocol": "TCP"}, {"protocol": "UDP"}]
    assert obj["spec"]["note"] is None and obj["spec"]["template"] == {"free": {"x": 1}}
    assert obj["metadata"] == {"name": "a", "anything": 1}
    assert schema.validate(obj) == []


@pytest.mark.parametrize("spec,field,reason", [
    ({}, "spec.url", "FieldValueRequired"),
    ({"url": 3}, "spec.url", "FieldValueTypeInvalid"),
    ({"url": "/d", "format": "xml"}, "spec.format", "FieldValueNotSupported"),
    ({"url": "/d", "replicas": -1}, "spec.replicas", "FieldValueInvalid"),
    ({"url": "/d", "port": 1.5}, "spec.port", "FieldValueInvalid"),
    ({"url": "/d", "labels": {"a": 1}}, "spec.labels.a", "FieldValueTypeInvalid"),
])
def test_schema_validation_causes(spec, field, reason):
    schema = CRSchema(SCHEMA)
    obj = {"metadata": {"name": "a"}, "spec": spec}
    schema.prune_and_default(obj)
    causes = schema.validate(obj)
    assert [(c.field, c.reason) for c in causes] == [(field, reason)]


def test_schema_nulls_of_non_nullable_fields_are_pruned_then_defaulted():
    schema = CRSchema(SCHEMA)
    obj = {"metadata": {}, "spec": {"url": "/d", "format": None}}
    schema.prune_and_default(obj)
    assert obj["spec"]["format"] == "txt"


@pytest.mark.parametrize("obj", [
    {"metadata": {"x": 1}, "spec": {"url": "/d", "unknown": 1, "note": None, "template": {"free": {"x": 1}},
                                    "labels": {"a": "b"}, "items": [{}, {"protocol": "UDP", "junk": 2}]},
     "extra": True},
    {"spec": {"url": None, "format": None, "labels": {"a": {"deep": 1}}, "items": [None, {"x": [1]}]}},
    {"status": {"phase": "x", "more": {"a": 1}}, "spec": {}},
])
def test_unknown_paths_match_pruning_without_changing_the_object(obj):
    from sedna.local.apiserver.schema import _walk, unknown_paths

    before = copy.deepcopy(obj)
    pruned: list[str] = []
    _walk(copy.deepcopy(obj), SCHEMA, "", pruned, root=True)
    assert unknown_paths(obj, SCHEMA) == pruned and obj == before


def test_unknown_pod_fields_are_reported():
    from sedna.local.apiserver.builtins import unknown_fields

    pod = {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "x",
                                    "resources": {"limits": {"cpu": "1"}}}], "nodeNmae": "n"}}
    assert sorted(unknown_fields("pods", pod)) == ["spec.containers[0].imagePullPolicyy", "spec.nodeNmae"]


def test_schema_update_checks_only_changed_top_level_fields():
    """Ratcheting (as Kubernetes' CRD validation ratcheting): a field left as stored is not validated or pruned
    again, so a status or metadata write does not pay for the spec; what changed is checked as on create."""
    schema = CRSchema(SCHEMA)
    old = {"metadata": {"name": "a"}, "spec": {"url": "/d", "format": "xml"}}          # stored under a laxer schema
    status_write = {"metadata": {"name": "a"}, "spec": {"url": "/d", "format": "xml"}, "status": {"phase": "Up"}}
    assert schema.prune_and_default(status_write, old) == [] and schema.validate(status_write, old) == []
    assert status_write["spec"] == {"url": "/d", "format": "xml"}
    bad_status = {"metadata": {"name": "a"}, "spec": old["spec"], "status": {"phase": 3, "junk": 1}}
    assert schema.prune_and_default(bad_status, old) == ["status.junk"]
    assert [(c.field, c.reason) for c in schema.validate(bad_status, old)] == [("status.phase",
                                                                                   "FieldValueTypeInvalid")]
    spec_change = {"metadata": {"name": "a"}, "spec": {"url": "/d", "format": "xml", "replicas": 1}}
    assert [c.field for c in schema.validate(spec_change, old)] == ["spec.format"]
    required = CRSchema({**SCHEMA, "required": ["spec"]})
    dropped = {"metadata": {"name": "a"}, "status": {"phase": "Up"}}
    assert [(c.field, c.reason) for c in required.validate(dropped, {**old, "status": {}})] == [
        ("spec", "FieldValueRequired")]
    assert required.validate(dict(old, status={"phase": "Up"}), old) == []


@pytest.mark.parametrize("path,expected", [
    (".status.phase", "Running"),
    (".spec.containers[0].name", "a"),
    (".spec.containers[*].name", "a,b"),
    (".spec.missing", None),
    ("{.metadata.name}", "p"),
    (".spec.containers[-1:].name", "b"),         # the current condition column: .status.conditions[-1:].type
    (".spec.containers[-1].name", "b"),
    (".spec.containers[-3:].name", "a,b"),
])
def test_printer_json_path(path, expected):
    obj = {"metadata": {"name": "p"}, "status": {"phase": "Running"},
           "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    assert json_path(obj, path) == expected


# ---- store: history, compaction, watcher filtering -------------------------------------------------------

def _cm(name, labels=None, ns="default"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns,
                                                                   "labels": labels or {}}}


def test_store_history_compaction_and_gone():
    from sedna.local.apiserver.store import Gone, Store
    store = Store(history=3)
    for i in range(5):
        store.put("/configmaps", _cm(f"c{i}"))
    assert [e.rv for e in store.events_since("/configmaps", 2)] == [3, 4, 5]
    with pytest.raises(Gone):
        store.events_since("/configmaps", 1)
    assert store.events_since("/secrets", 0) == [], "another bucket has its own history"
    event = store.remove("/configmaps", "default", "c4")
    assert event.type == "DELETED" and event.obj["metadata"]["resourceVersion"] == "6"
    assert store.remove("/configmaps", "default", "c4") is None


def test_watcher_sees_selector_transitions():
    import asyncio

    from sedna.local.apiserver.store import Store

    async def scenario():
        store = Store()
        sel = parse_label_selector("app=web")
        watcher = store.subscribe("/configmaps", "default", lambda o: sel.matches(o["metadata"].get("labels")))
        store.put("/configmaps", _cm("a", {"app": "db"}))
        store.put("/configmaps", _cm("a", {"app": "web"}))
        store.put("/configmaps", _cm("a", {"app": "web", "x": "1"}))
        store.put("/configmaps", _cm("a", {"app": "db"}))
        store.put("/configmaps", _cm("b", {"app": "web"}, ns="other"))
        store.remove("/configmaps", "default", "a")
        kinds = []
        while not watcher.queue.empty():
            kind, event = watcher.queue.get_nowait()
            kinds.append((kind, event.obj["metadata"]["name"]))
        store.unsubscribe(watcher)
        store.put("/configmaps", _cm("c", {"app": "web"}))
        assert watcher.queue.empty()
        return kinds

    assert asyncio.run(scenario()) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_store_persists_and_reloads(tmp_path):
    from sedna.local.apiserver.store import Gone, Store
    store = Store(tmp_path)
    store.put("/configmaps", dict(_cm("kept"), metadata=dict(_cm("kept")["metadata"], uid="u1")))
    store.put("/configmaps", _cm("gone"))
    store.remove("/configmaps", "default", "gone")
    store.close()
    again = Store(tmp_path)
    assert [o["metadata"]["name"] for o in again.items("/configmaps")] == ["kept"]
    assert again.rv == 3 and again.by_uid("u1")[1]["metadata"]["name"] == "kept"
    with pytest.raises(Gone):
        again.events_since("/configmaps", 1)
    assert again.events_since("/configmaps", 3) == []
    again.close()


def test_schema_list_types_reject_duplicates():
    schema = CRSchema({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "containers": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                       "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                                  "image": {"type": "string"}}}},
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "free": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}}}}}})
    ok = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}], "tags": ["1", "2"],
                   "free": ["z", "z"]}}
    assert schema.validate(ok) == []
    bad = {"spec": {"containers": [{"name": "a"}, {"name": "a", "image": "y"}], "tags": ["1", "1"]}}
    assert [(c.field, c.reason) for c in schema.validate(bad)] == [
        ("spec.containers[1]", "FieldValueDuplicate"), ("spec.tags[1]", "FieldValueDuplicate")]


@pytest.mark.parametrize("text,expected", [
    ("2024-01-01T00:00:00Z", 1704067200.0),
    ("2024-01-01T00:00:00.5Z", 1704067200.5),
    ("2024-01-01T01:00:00+01:00", 1704067200.0),
    ("yesterday", None),
    (None, None),
])
def test_parse_stamp(text, expected):
    from sedna.local.apiserver.api import parse_stamp
    assert parse_stamp(text) == expected


def test_schema_memoises_valid_array_items_only():
    """Items found valid are not walked again (issue 16); invalid ones are reported on every write, and the
    same value under another ``items`` schema is checked against that one."""
    schema = CRSchema({"type": "object", "properties": {
        "status": {"type": "object", "properties": {
            "conditions": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": "string"}, "n": {"type": "integer"}}}},
            "counts": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": "integer"}}}}}}}})
    good = [{"type": "Training", "n": i} for i in range(20)]
    assert schema.validate({"status": {"conditions": good}}) == []
    assert len(schema._valid_items) == 20
    bad = {"type": "Training", "n": "x"}
    for _ in range(2):
        causes = schema.validate({"status": {"conditions": [*good, bad]}})
        assert [(c.field, c.reason) for c in causes] == [("status.conditions[20].n", "FieldValueTypeInvalid")]
    assert len(schema._valid_items) == 20
    causes = schema.validate({"status": {"counts": [good[0]]}})
    assert [c.field for c in causes] == ["status.counts[0].type"]


def test_store_persists_a_burst_once_in_its_last_state(tmp_path):
    """Writes inside an event loop share one deferred commit; each object is stored in its last state."""
    import asyncio

    from sedna.local.apiserver.store import Store

    async def burst(store):
        for i in range(3):
            store.put("/configmaps", dict(_cm("busy"), data={"n": str(i)}))
        store.put("/configmaps", _cm("short-lived"))
        store.remove("/configmaps", "default", "short-lived")
        assert store._dirty, "not written yet: the burst commits after it"
        await asyncio.sleep(0.05)
        assert not store._dirty

    store = Store(tmp_path)
    asyncio.run(burst(store))
    store.close()
    again = Store(tmp_path)
    assert [(o["metadata"]["name"], o["data"]) for o in again.items("/configmaps")] == [("busy", {"n": "2"})]
    assert again.rv == 5
    again.close()


def test_copy_object_is_a_deep_copy_of_json_values():
    from collections import OrderedDict

    from sedna.local.apiserver.store import copy_object

    src = {"a": [1, {"b": None, "c": [True, 2.5, "s"]}], "d": {}, "e": OrderedDict(x=[1])}
    out = copy_object(src)
    assert out == src and out is not src
    out["a"][1]["c"].append(9)
    out["e"]["x"].append(2)
    assert src["a"][1]["c"] == [True, 2.5, "s"] and src["e"]["x"] == [1]


def test_writes_copy_a_callers_body_unless_it_is_handed_over():
    from sedna.local.apiserver.server import APIServer

    server = APIServer()
    rd = server.registry.get("", "v1", "configmaps")
    body = {"metadata": {"name": "a"}, "data": {"k": "v"}}
    stored, _ = server.api.create(rd, "default", body)
    body["data"]["k"] = "changed by the caller"
    assert server.store.get(rd.bucket, "default", "a")["data"] == {"k": "v"} and stored is not body
    request_body = {"metadata": {"name": "b"}, "data": {"k": "v"}}
    stored, _ = server.api.create(rd, "default", request_body, owned=True)    # a decoded request: no copy
    assert stored is request_body
    current = server.store.get(rd.bucket, "default", "a")
    update = {"metadata": {"name": "a", "resourceVersion": current["metadata"]["resourceVersion"]}, "data": {}}
    server.api.update(rd, "default", "a", update)
    update["data"]["k"] = "late"
    assert server.store.get(rd.bucket, "default", "a")["data"] == {}
