"""The pure parts of the dashboard: rows, pod states, plot samples, stage/round timelines, history."""

from __future__ import annotations

import json

import pytest

from sedna.dashboard import views
from sedna.dashboard.history import MetricsHistory


def pod(state: dict, last: dict | None = None, phase: str = "Running", restarts: int = 0) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "labels": {"jointinferenceservice.sedna.io/name": "svc",
                                                                   "jointinferenceservice.sedna.io/worker-type": "edge"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": phase, "containerStatuses": [{"name": "c", "state": state, "restartCount": restarts,
                                                              "lastState": {"terminated": last} if last else {}}]}}


@pytest.mark.parametrize("state,last,phase,want_state,want_exit,failing", [
    ({"running": {}}, None, "Running", "Running", None, False),
    ({"running": {}}, {"exitCode": 0}, "Running", "Running", 0, False),
    ({"running": {}}, {"exitCode": 2}, "Running", "Running", 2, False),      # restarted and now runs
    ({"waiting": {"reason": "CrashLoopBackOff"}}, {"exitCode": 3}, "Running", "CrashLoopBackOff", 3, True),
    ({"waiting": {"reason": "ContainerCreating"}}, None, "Pending", "ContainerCreating", None, False),
    ({"terminated": {"exitCode": 0, "reason": "Completed"}}, None, "Succeeded", "Completed", 0, False),
    ({"terminated": {"exitCode": 137, "reason": "Error"}}, None, "Failed", "Error", 137, True),
    ({"waiting": {"reason": "CreateContainerError"}}, None, "Pending", "CreateContainerError", None, True),
])
def test_pod_view(state, last, phase, want_state, want_exit, failing):
    row = views.pod_view(pod(state, last, phase))
    assert (row["state"], row["lastExitCode"], row["failing"]) == (want_state, want_exit, failing)
    assert row["workerType"] == "edge" and row["node"] == "n1"


@pytest.mark.parametrize("bad", [{}, {"status": "x"}, {"status": {"containerStatuses": ["x", None]}},
                                 {"metadata": None, "spec": None}])
def test_pod_view_survives_malformed(bad):
    assert views.pod_view(bad)["state"] == "Pending"


@pytest.mark.parametrize("obj,pods,phase,failing", [
    ({"kind": "FederatedLearningJob", "status": {"phase": "Running"}}, [], "Running", False),
    ({"kind": "FederatedLearningJob", "status": {"phase": "Failed"}}, [], "Failed", True),
    ({"kind": "JointInferenceService", "status": {"conditions": [{"type": "Running"}], "failed": 1}}, [], "Running",
     True),
    ({"kind": "IncrementalLearningJob", "status": {"conditions": [{"type": "Running", "stage": "Train"}]}}, [],
     "Train Running", False),
    ({"kind": "IncrementalLearningJob", "status": {"conditions": [{"type": "Failed", "stage": "Eval"}]}}, [],
     "Eval Failed", True),
    ({"kind": "Dataset", "status": {"numberOfSamples": 12}}, [], "12 samples", False),
    ({"kind": "Model"}, [], "—", False),
    ({"kind": "Model", "status": {"metrics": [{"key": "acc", "value": "1"}]}}, [], "metrics reported", False),
    ({"kind": "JointInferenceService"}, [pod({"waiting": {"reason": "CrashLoopBackOff"}}, {"exitCode": 3})],
     "Pending", True),
    ({"kind": "JointInferenceService", "status": "garbage"}, [], "Pending", False),
])
def test_summary(obj, pods, phase, failing):
    row = views.summary({"metadata": {"name": "x", "namespace": "ns"}, **obj}, pods)
    assert (row["phase"], row["failing"]) == (phase, failing)


def test_summary_names_the_failing_pod_and_exit_code():
    row = views.summary({"kind": "JointInferenceService", "metadata": {"name": "x"}},
                        [pod({"waiting": {"reason": "CrashLoopBackOff"}}, {"exitCode": 3}, restarts=5)])
    assert row["reason"] == "CrashLoopBackOff" and row["message"] == "pod p: last exit code 3"
    assert row["restarts"] == 5 and row["failingPods"] == 1


def test_overview_order_failing_first():
    rows = [{"failing": False, "kind": "A", "namespace": "n", "name": "a"},
            {"failing": True, "kind": "B", "namespace": "n", "name": "b"},
            {"failing": False, "kind": "A", "namespace": "m", "name": "c"}]
    assert [r["name"] for r in views.overview_order(rows)] == ["b", "c", "a"]


@pytest.mark.parametrize("value,want", [("3", 3.0), (2, 2.0), ("0.25", 0.25), ("[0.9]", 0.9), ([4], 4.0),
                                        ("abc", None), ("[1, 2]", None), (None, None), (True, 1.0), ("{", None)])
def test_to_number(value, want):
    assert views.to_number(value) == want


def test_fl_sample_round_and_model_metrics():
    job = {"kind": "FederatedLearningJob", "status": {"active": 3, "conditions": [
        {"type": "Training", "message": "Round 1 reaches at t1", "lastProbeTime": "t1"},
        {"type": "Training", "message": "Round 2 reaches at t2", "lastProbeTime": "t2"}]}}
    model = {"status": {"metrics": [{"key": "accuracy", "value": "0.8"}, {"key": "note", "value": "ok"}]}}
    assert views.metrics_sample(job, model) == {"active": 3.0, "round": 2.0, "accuracy": 0.8}
    assert views.fl_rounds(job) == [{"round": 1, "time": "t1"}, {"round": 2, "time": "t2"}]


def test_il_stage_timeline_metrics_and_deployed_model():
    def cond(stage, type_, data):
        return {"stage": stage, "type": type_, "data": json.dumps(data), "lastTransitionTime": stage}

    job = {"kind": "IncrementalLearningJob", "status": {"conditions": [
        cond("Train", "Completed", {"output": {"models": [{"url": "/m/1", "format": "pb"}]}}),
        cond("Eval", "Completed", {"input": {"models": [{"url": "/m/1"}]},
                                   "output": {"models": [{"url": "/m/1", "metrics": {"precision": [0.7],
                                                                                     "recall": "0.6"}}]}}),
        cond("Deploy", "Ready", {"input": {"models": [{"url": "/m/1"}]}}),
    ]}}
    stages = views.stage_timeline(job)
    assert [(s["stage"], s["type"]) for s in stages] == [("Train", "Completed"), ("Eval", "Completed"),
                                                          ("Deploy", "Ready")]
    assert views.metrics_sample(job) == {"eval.precision": 0.7, "eval.recall": 0.6}
    assert views.deployed_versions(job)["deployedModel"] == "/m/1"


def test_multiedge_sample_from_condition_data():
    job = {"kind": "VideoAnalyticsJob", "status": {"conditions": [
        {"type": "Running", "data": json.dumps({"framesProcessed": 40, "detail": {"matches": 3, "x": "y"}})}]}}
    assert views.metrics_sample(job) == {"framesProcessed": 40.0, "detail.matches": 3.0}


def test_history_appends_changes_only_and_is_bounded():
    h = MetricsHistory(max_points=3, max_objects=2)
    key = ("K", "ns", "a")
    assert h.record(key, 1.0, {"x": 1})
    assert not h.record(key, 2.0, {"x": 1})           # unchanged: no point
    assert not h.record(key, 2.0, {})                 # nothing to plot
    for t, v in ((3.0, 2), (4.0, 3), (5.0, 4)):
        h.record(key, t, {"x": v, "y": v * 10} if v == 4 else {"x": v})
    series = h.series(key)
    assert series["t"] == [3.0, 4.0, 5.0] and series["series"] == {"x": [2, 3, 4], "y": [None, None, 40]}
    h.record(("K", "ns", "b"), 1.0, {"x": 1})
    h.record(("K", "ns", "c"), 1.0, {"x": 1})        # the least recently updated object goes
    assert h.series(key)["t"] == []
    assert h.series(("K", "ns", "c"))["t"] == [1.0]
