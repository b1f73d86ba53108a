"""Worker health from pod shapes (sedna.gm.controllers.health): one table row per shape a kubelet/scheduler writes."""

import pytest

from sedna.gm.controllers import health as h

NODES = {"cloud-node", "edge-node"}


def pod(phase="Running", containers=(), node="edge-node", conditions=None, init=(), name="p",
        worker="cloud", deleting=False, reason=None, message=None):
    status = {"phase": phase, "containerStatuses": list(containers)}
    if init:
        status["initContainerStatuses"] = list(init)
    if conditions is not None:
        status["conditions"] = conditions
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    meta = {"name": name, "labels": {"jointinferenceservice.sedna.io/worker-type": worker} if worker else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec = {"nodeName": node} if node else {}
    return {"metadata": meta, "spec": spec, "status": status}


def running(ready=True, restarts=0, last=None, name="w"):
    cs = {"name": name, "state": {"running": {"startedAt": "t"}}, "ready": ready, "restartCount": restarts}
    if last is not None:
        cs["lastState"] = {"terminated": last}
    return cs


def waiting(reason, restarts=0, last=None, message="", name="w"):
    cs = {"name": name, "state": {"waiting": {"reason": reason, "message": message}}, "ready": False,
          "restartCount": restarts}
    if last is not None:
        cs["lastState"] = {"terminated": last}
    return cs


def terminated(code, reason=None, restarts=0, name="w"):
    return {"name": name, "state": {"terminated": {"exitCode": code, "reason": reason or (
        "Completed" if code == 0 else "Error")}}, "ready": False, "restartCount": restarts}


def exit_(code, reason="Error"):
    return {"exitCode": code, "reason": reason}


READY = [{"type": "Ready", "status": "True"}]
NOT_READY = [{"type": "Ready", "status": "False"}]
UNSCHED = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/2 nodes are available: node selector"}]

# (id, pod, state, active, failing, exit_code, restarts, failures, reason)
CASES = [
    ("running-ready", pod(containers=[running()], conditions=READY), h.RUNNING, True, False, None, 0, 0, ""),
    ("running-ready-no-ready-condition", pod(containers=[running()]), h.RUNNING, True, False, None, 0, 0, ""),
    ("running-phase-only", {"metadata": {"name": "p"}, "status": {"phase": "Running"}}, h.RUNNING, True, False,
     None, 0, 0, ""),
    ("running-not-ready", pod(containers=[running(ready=False)], conditions=NOT_READY), h.STARTING, False,
     False, None, 0, 0, "NotReady"),
    ("running-after-one-crash", pod(containers=[running(restarts=1, last=exit_(3))], conditions=READY),
     h.RUNNING, True, False, 3, 1, 1, ""),
    ("crashloop-first", pod(containers=[waiting("CrashLoopBackOff", 0, exit_(3))]), h.CRASHING, False, True,
     3, 0, 1, "CrashLoopBackOff"),
    ("crashloop-third", pod(containers=[waiting("CrashLoopBackOff", 2, exit_(3))]), h.CRASHING, False, True,
     3, 2, 3, "CrashLoopBackOff"),
    ("crashloop-oomkilled", pod(containers=[waiting("CrashLoopBackOff", 4, exit_(137, "OOMKilled"))]),
     h.CRASHING, False, True, 137, 4, 5, "CrashLoopBackOff"),
    ("crashloop-second-container", pod(containers=[running(name="a"), waiting("CrashLoopBackOff", 1, exit_(7),
                                                                                 name="b")]),
     h.CRASHING, False, True, 7, 1, 2, "CrashLoopBackOff"),
    ("terminated-awaiting-restart", pod(containers=[terminated(5, restarts=1)]), h.STARTING, False, False, 5, 1,
     2, "NotReady"),
    ("image-pull-backoff", pod(phase="Pending", containers=[waiting("ImagePullBackOff", message="not found")]),
     h.IMAGE_ERROR, False, True, None, 0, 0, "ImagePullBackOff"),
    ("err-image-pull", pod(phase="Pending", containers=[waiting("ErrImagePull")]), h.IMAGE_ERROR, False, True,
     None, 0, 0, "ErrImagePull"),
    ("invalid-image-name", pod(phase="Pending", containers=[waiting("InvalidImageName")]), h.IMAGE_ERROR, False,
     True, None, 0, 0, "InvalidImageName"),
    ("create-container-error", pod(phase="Pending", containers=[waiting("CreateContainerError",
                                                                        message="no such file")]),
     h.CONFIG_ERROR, False, True, None, 0, 0, "CreateContainerError"),
    ("create-container-config-error", pod(phase="Pending", containers=[waiting("CreateContainerConfigError")]),
     h.CONFIG_ERROR, False, True, None, 0, 0, "CreateContainerConfigError"),
    ("run-container-error", pod(containers=[waiting("RunContainerError", 1, exit_(128, "StartError"))]),
     h.CONFIG_ERROR, False, True, 128, 1, 1, "RunContainerError"),
    ("failed-never-restart", pod(phase="Failed", containers=[terminated(5)]), h.FAILED, False, True, 5, 0, 1,
     "Failed"),
    ("failed-evicted", pod(phase="Failed", containers=[], reason="Evicted", message="low on memory"), h.FAILED,
     False, True, None, 0, 1, "Evicted"),
    ("failed-after-restarts", pod(phase="Failed", containers=[terminated(2, restarts=3)]), h.FAILED, False, True,
     2, 3, 4, "Failed"),
    ("succeeded", pod(phase="Succeeded", containers=[terminated(0)]), h.SUCCEEDED, False, False, None, 0, 0, ""),
    ("succeeded-after-a-crash", pod(phase="Succeeded", containers=[terminated(0, restarts=1)]), h.SUCCEEDED,
     False, False, None, 1, 1, ""),
    ("unschedulable", pod(phase="Pending", node="", conditions=UNSCHED), h.UNSCHEDULABLE, False, False, None, 0,
     0, "Unschedulable"),
    ("pending-not-scheduled-yet", pod(phase="Pending", node=""), h.STARTING, False, False, None, 0, 0, ""),
    ("pending-on-missing-node", pod(phase="Pending", node="ghost-node"), h.NODE_MISSING, False, False, None, 0, 0,
     "NodeNotFound"),
    ("pending-no-status-on-missing-node", {"metadata": {"name": "p"}, "spec": {"nodeName": "ghost"}},
     h.NODE_MISSING, False, False, None, 0, 0, "NodeNotFound"),
    ("pending-container-creating", pod(phase="Pending", containers=[waiting("ContainerCreating")]), h.STARTING,
     False, False, None, 0, 0, ""),
    ("pending-init-running", pod(phase="Pending", init=[running(ready=False, name="init")],
                                 containers=[waiting("PodInitializing")]), h.STARTING, False, False, None, 0, 0, ""),
    ("init-crashloop", pod(phase="Pending", init=[waiting("CrashLoopBackOff", 2, exit_(1), name="init")],
                           containers=[waiting("PodInitializing")]), h.CRASHING, False, True, 1, 2, 3,
     "CrashLoopBackOff"),
    ("terminating", pod(containers=[running()], deleting=True), h.TERMINATING, False, False, None, 0, 0,
     "Terminating"),
    ("unknown-phase", pod(phase="Unknown", containers=[running()]), h.STARTING, False, False, None, 0, 0,
     "NodeLost"),
]


@pytest.mark.parametrize(("shape", "state", "active", "failing", "code", "restarts", "failures", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pod_health_table(shape, state, active, failing, code, restarts, failures, reason):
    got = h.pod_health(shape, NODES)
    assert (got.state, got.active, got.failing, got.exit_code, got.restarts, got.failures, got.reason) == (
        state, active, failing, code, restarts, failures, reason)


def test_at_least_twenty_shapes():
    assert len(CASES) >= 20


def test_missing_node_is_not_concluded_without_a_node_list():
    assert h.pod_health(pod(phase="Pending", node="ghost"), None).state == h.STARTING


def test_describe_names_worker_pod_exit_code_and_reason():
    got = h.pod_health(pod(containers=[waiting("CrashLoopBackOff", 4, exit_(3))], name="ji-cloud-x"), NODES)
    assert got.describe() == 'worker cloud (pod ji-cloud-x): container "w" CrashLoopBackOff, last exit code 3 ' \
                             '(Error), 4 restarts'
    missing = h.pod_health(pod(phase="Pending", node="ghost", name="fl-train-1", worker="train"), NODES)
    assert missing.describe() == 'worker train (pod fl-train-1): bound to node "ghost", which does not exist'
    unsched = h.pod_health(pod(phase="Pending", node="", conditions=UNSCHED, name="q", worker=""), NODES)
    assert unsched.describe() == "pod q: unschedulable: 0/2 nodes are available: node selector"


def test_summary_counts_and_picks_the_worst():
    pods = [pod(containers=[running()], name="a"),
            pod(containers=[waiting("CrashLoopBackOff", 2, exit_(3))], name="b"),
            pod(phase="Failed", containers=[terminated(5)], name="c"),
            pod(phase="Pending", node="ghost", name="d"),
            pod(phase="Succeeded", containers=[terminated(0)], name="e")]
    s = h.summarize(pods, NODES)
    assert (s.active, s.succeeded, s.failed, s.failed_pods, s.failures) == (1, 1, 2, 1, 4)
    assert s.worst().pod == "b"
    assert s.worst(h.UNPLACED).pod == "d"
    assert s.last_failure().pod == "b"
    assert h.summarize([pod(containers=[running()])], NODES).worst(h.FAILING) is None


def test_a_restarted_worker_counts_as_recovered_only_after_running_stably():
    from datetime import datetime, timedelta, timezone
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    cs = running(restarts=2, last=exit_(3))
    cs["state"]["running"]["startedAt"] = "2026-01-01T12:00:00Z"
    shape = pod(containers=[cs], conditions=READY)
    early = h.pod_health(shape, NODES, started + timedelta(seconds=4))
    assert (early.state, early.reason, early.exit_code, early.settle_in) == (
        h.CRASHING, "CrashLoopBackOff", 3, h.STABLE_SECONDS - 4)
    assert h.summarize([shape], NODES, started + timedelta(seconds=4)).settle_in == h.STABLE_SECONDS - 4
    late = h.pod_health(shape, NODES, started + timedelta(seconds=h.STABLE_SECONDS + 1))
    assert (late.state, late.active, late.settle_in) == (h.RUNNING, True, None)


def test_a_volume_that_cannot_be_mounted_is_a_config_error():
    shape = pod(phase="Pending", containers=[waiting("ContainerCreating", message="MountVolume.SetUp failed for "
                                                     "volume 'm': hostPath type check failed: /x is not a directory")])
    got = h.pod_health(shape, NODES)
    assert (got.state, got.reason) == (h.CONFIG_ERROR, "FailedMount") and "/x is not a directory" in got.describe()
