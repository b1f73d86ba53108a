"""The example declaration format and the pure condition checks (docs/examples.md)."""

from __future__ import annotations

import pytest

from sedna.local.examples import conditions as cd
from sedna.local.examples.runner import annotate_templates, node_path
from sedna.local.examples.spec import Condition, SpecError, discover, load

TARGET = {"status": {"stage": "Deploy", "conditions": [{"type": "Running", "stage": "Train"},
                                                       {"type": "Completed", "stage": "Train", "message": "t"},
                                                       {"type": "Completed", "stage": "Deploy", "message": "d"}],
                     "metrics": [{"key": "inferenceNumber", "value": "20"}, {"key": "hard", "value": "3"}]}}


@pytest.mark.parametrize("path, value", [
    ("status.stage", "Deploy"),
    ("status.conditions[-1].type", "Completed"),
    ("status.conditions[0].type", "Running"),
    ("status.conditions[5].type", None),
    ("status.conditions[type=Completed].message", "t"),
    ("status.conditions[stage=Deploy,type=Completed].message", "d"),
    ("status.conditions[stage=Eval,type=Completed].message", None),
    ("status.metrics[key=inferenceNumber].value", "20"),
    ("status.metrics[key=nope].value", None),
    ("status.missing.deeper", None),
    ("spec", None),
])
def test_lookup(path, value):
    assert cd.lookup(TARGET, path) == value


@pytest.mark.parametrize("cond, expected", [
    ({"field": "status.stage", "equals": "Deploy"}, True),
    ({"field": "status.stage", "equals": "Train"}, False),
    ({"field": "status.stage", "in": ["Eval", "Deploy"]}, True),
    ({"field": "status.metrics[key=inferenceNumber].value", "atLeast": 20}, True),
    ({"field": "status.metrics[key=inferenceNumber].value", "atLeast": 21}, False),
    ({"field": "status.stage", "atLeast": 1}, False),                  # not a number
    ({"field": "status.nothing", "equals": "None"}, False),            # absent never matches
    ({"files": "edge-node:/out", "atLeast": 2}, True),
    ({"files": "edge-node:/out", "atLeast": 3}, False),
    ({"files": "edge-node:/empty"}, False),
    ({"pods": "cloud", "ready": True}, True),
    ({"pods": "edge", "ready": True}, False),
    ({"pods": "edge", "phase": "Running"}, True),
    ({"pods": "*", "phase": "Succeeded"}, False),
    ({"pods": "*", "phase": "Running", "atLeast": 2}, True),
    ({"pods": "*", "phase": "Running", "atLeast": 3}, False),
    ({"log": "edge", "contains": "hot update"}, True),
    ({"log": "cloud", "contains": "hot update"}, False),
])
def test_holds(cond, expected):
    pods = [pod("a-cloud", "cloud", "Running", ready=True), pod("a-edge", "edge", "Running")]
    obs = cd.Observation(target=TARGET, pods=pods, files={"edge-node:/out": 2, "edge-node:/empty": 0},
                         logs={"a-edge": "x\nhot update to /m.npz\n", "a-cloud": "serving"},
                         worker_label="k.sedna.io/worker-type")
    assert cd.holds(Condition.model_validate(cond), obs) is expected


def pod(name, kind, phase, ready=False, statuses=()):
    return {"metadata": {"name": name, "labels": {"k.sedna.io/worker-type": kind}},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}],
                       "containerStatuses": list(statuses)}}


@pytest.mark.parametrize("statuses, phase, why", [
    ([{"name": "c", "state": {"running": {}}}], "Running", None),
    ([{"name": "c", "state": {"terminated": {"exitCode": 0}}}], "Succeeded", None),
    ([{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}], "Running", "CrashLoopBackOff"),
    ([{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
       "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}], "Running",
     "c: CrashLoopBackOff, exited with code 3 (Error)"),
    ([{"name": "c", "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 3}}}], "Running",
     "exited with code 3"),
    ([{"name": "c", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}], "Failed", "exited with code 1"),
    ([], "Failed", "pod phase Failed"),
])
def test_broken_pod(statuses, phase, why):
    found = cd.broken_pod([pod("p", "train", phase, statuses=statuses)])
    assert (found is None) if why is None else (found[0] == "p" and why in found[1])


def test_verdict_failure_first_then_success():
    ok = [Condition(field="status.stage", equals="Deploy")]
    failed = [Condition(field="status.conditions[-1].type", equals="Completed")]
    obs = cd.Observation(target=TARGET)
    assert cd.verdict(ok, [], obs)[0] == "success"
    outcome, _, why = cd.verdict(ok, failed, obs)
    assert outcome == "failure" and "status.conditions[-1].type == Completed" in why
    waiting = cd.verdict([Condition(field="status.stage", equals="Train")], [], obs)
    assert waiting[0] == "waiting" and waiting[1][0].field == "status.stage"
    crashed = cd.Observation(target=TARGET, pods=[pod("w-1", "edge", "Failed")])
    assert cd.verdict(ok, [], crashed)[2].startswith("pod w-1:")


@pytest.mark.parametrize("cond, error", [
    ({}, "exactly one of"),
    ({"field": "a", "pods": "b", "equals": 1}, "exactly one of"),
    ({"field": "status.x"}, "equals, in or atLeast"),
    ({"log": "edge"}, "contains"),
    ({"files": "/no/node"}, "<node>:"),
    ({"field": "a", "equals": 1, "bogus": 2}, "bogus"),
])
def test_bad_conditions_name_the_field(cond, error):
    with pytest.raises(ValueError, match=error):
        Condition.model_validate(cond)


def test_load_names_file_and_field(tmp_path):
    (tmp_path / "example.yaml").write_text("name: x\ndescription: d\nimageMap: m.yaml\nmanifests: [a.yaml]\n"
                                           "target: {kind: K, name: n}\nsuccess: [{field: s}]\n")
    with pytest.raises(SpecError, match=r"example.yaml: success.0"):
        load(tmp_path / "example.yaml")
    (tmp_path / "example.yaml").write_text("name: x\ndescription: d\nimageMap: m.yaml\nmanifests: [a.yaml]\n"
                                           "target: {kind: K, name: n}\nsuccess: [{field: s, equals: 1}]\n")
    with pytest.raises(SpecError, match="m.yaml: no such file"):
        load(tmp_path / "example.yaml")


def test_every_shipped_example_loads_and_its_manifests_parse():
    from sedna.api.yamlio import load_all

    specs = discover()
    assert "joint-inference-helmet" in specs
    for spec in specs.values():
        kinds = [d.get("kind") for rel in spec.manifests for d in load_all((spec.folder / rel).read_text())]
        assert spec.target.kind in kinds, spec.name


def test_annotation_reaches_every_pod_template_and_node_paths(tmp_path):
    doc = {"spec": {"edgeWorker": {"template": {"spec": {"containers": []}}},
                    "trainingWorkers": [{"template": {"metadata": {"labels": {"a": "b"}},
                                                      "spec": {"containers": []}}}],
                    "other": {"template": "not a pod"}}}
    assert annotate_templates(doc, "k", "v") == 2
    assert doc["spec"]["trainingWorkers"][0]["template"]["metadata"] == {"labels": {"a": "b"},
                                                                         "annotations": {"k": "v"}}
    assert node_path(tmp_path, "edge-node:/a/b") == tmp_path / "nodes" / "edge-node" / "a" / "b"


def test_also_objects_of_shipped_examples_are_in_their_manifests():
    from sedna.api.yamlio import load_all

    specs = discover()
    assert [t.kind for t in specs["multi-edge-tracking"].also] == ["FeatureExtractionService", "VideoAnalyticsJob"]
    for spec in specs.values():
        objects = {(d.get("kind"), (d.get("metadata") or {}).get("name"))
                   for rel in spec.manifests for d in load_all((spec.folder / rel).read_text())}
        assert {(t.kind, t.name) for t in spec.also} <= objects, spec.name


def test_every_example_manifest_passes_sedna_validate():
    import subprocess
    import sys

    files = [str(spec.folder / rel) for spec in discover().values() for rel in spec.manifests]
    done = subprocess.run([sys.executable, "-m", "sedna", "validate", "-f", *files], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 invalid" in done.stdout
