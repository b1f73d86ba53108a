"""The GM's create path against the API emulator (issue 16): kopf keeps its finalizer but no diff base, and the
GM still resumes correctly after a restart (jobs created and deleted while it was down); the echo of the GM's own
child writes causes no sync, and the follow-up check that replaces it re-syncs only when something would change."""

import asyncio
import copy
import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_cluster import cluster_fixture, gm_fixture, wait_for  # noqa: F401 - the fixtures

from sedna.gm.config import parse_config
from sedna.gm.finalizer import FINALIZER
from sedna.gm.informer import OwnedObjects
from sedna.gm.kube import KubeError
from sedna.gm.operator import MAX_FOLLOW_UPS, GlobalManager

pytestmark = [pytest.mark.timeout(180)]
TOKEN = "t0ken"
LABEL = "federatedlearningjob.sedna.io/name"


def fl_job(name: str, annotations: dict | None = None) -> dict:
    template = {"spec": {"nodeName": "edge-1", "containers": [{"name": "w", "image": "busybox"}]}}
    meta = {"name": name, "namespace": "default"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob", "metadata": meta,
            "spec": {"aggregationWorker": {"model": {"name": "cp-model"}, "template": template},
                     "trainingWorkers": [{"dataset": {"name": "cp-ds"}, "template": template}]}}


def pods_of(cluster, name: str) -> list[dict]:
    return cluster.list("Pod", selector=f"{LABEL}={name}")


def handled(job: dict) -> dict | None:
    """``job`` once the GM wrote its status and kopf added the finalizer."""
    done = (job.get("status") or {}).get("startTime") and FINALIZER in job["metadata"].get("finalizers", [])
    return job if done else None


def test_finalizer_without_diff_base_and_resume_after_restart(cluster, gm):
    cluster.http.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1"}})
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                    "metadata": {"name": "cp-model", "namespace": "default"},
                    "spec": {"url": "/models/m.pb", "format": "pb"}})
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": "cp-ds", "namespace": "default"},
                    "spec": {"url": "/data/train.txt", "format": "txt", "nodeName": "edge-1"}})
    # an object an older GM handled still carries kopf's old diff base: it is reconciled all the same
    cluster.create(fl_job("cp-a", {"gm.sedna.io/last-handled-configuration": '{"spec": {}}'}))
    cluster.create(fl_job("cp-b"))
    for name in ("cp-a", "cp-b"):
        wait_for(lambda name=name: len(pods_of(cluster, name)) == 2, what=f"pods of {name}")
        job = wait_for(lambda name=name: handled(cluster.get("FederatedLearningJob", name)),
                       what=f"status and finalizer of {name}")
        written = [k for k in job["metadata"].get("annotations") or {} if k.startswith("gm.sedna.io/")]
        assert written == (["gm.sedna.io/last-handled-configuration"] if name == "cp-a" else []), written
    assert cluster.get("Service", "cp-b-aggregation") is not None

    # GM down: one job is created, one deleted (held by the finalizer until a GM runs its delete handler)
    gm.kill9()
    cluster.create(fl_job("cp-c"))
    cluster.delete("FederatedLearningJob", "cp-b")
    assert cluster.get("FederatedLearningJob", "cp-b")["metadata"].get("deletionTimestamp")
    gm.start()
    wait_for(lambda: len(pods_of(cluster, "cp-c")) == 2, what="pods of the job created while the GM was down")
    wait_for(lambda: cluster.get("FederatedLearningJob", "cp-b") is None,
             what="the job deleted while the GM was down released by its finalizer")
    job = wait_for(lambda: handled(cluster.get("FederatedLearningJob", "cp-c")), what="status of cp-c")
    assert not [k for k in job["metadata"].get("annotations") or {} if k.startswith("gm.sedna.io/")]
    # nothing was created twice across the restart
    assert len(pods_of(cluster, "cp-a")) == 2


# ---- units: the echo of the GM's own write, and the follow-up check that replaces the sync it used to cause ----

OWNER = {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob", "name": "job", "uid": "job-uid",
         "controller": True}


def pod(name, rv, uid=None):
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                                        "resourceVersion": str(rv), "ownerReferences": [OWNER],
                                        "labels": {LABEL: "job"}}}


class WatchOnce:
    """A kube client whose watch yields ``events`` once, then fails (ending OwnedObjects._watch)."""

    def __init__(self, events):
        self.events = events
        self.calls = 0

    async def watch(self, path, params):
        self.calls += 1
        if self.calls > 1:
            raise KubeError(410, "gone")
        for event in self.events:
            yield event


@pytest.mark.parametrize("event,written,changes", [
    (("ADDED", pod("a", 5)), pod("a", 5), 0),                      # the echo of our own create
    (("MODIFIED", pod("a", 6)), pod("a", 5), 1),                   # a change after it (e.g. the scheduler)
    (("ADDED", pod("b", 7)), pod("a", 5), 1),                      # made by someone else
    (("DELETED", pod("a", 8)), pod("a", 5), 1),                    # deleted by someone else
    (("ADDED", pod("a", 9, uid="other")), pod("a", 5), 1),         # same name, another object
])
def test_echo_of_own_write_triggers_no_sync(event, written, changes):
    async def run():
        seen = []
        cache = OwnedObjects(WatchOnce([{"type": event[0], "object": copy.deepcopy(event[1])}]),
                             on_change=seen.append)
        cache._synced["Pod"] = True
        cache.created(copy.deepcopy(written))
        with pytest.raises(KubeError):
            await cache._watch("Pod", "/api/v1/pods", "1")
        return seen
    assert len(asyncio.run(run())) == changes


class FakeKube:
    """The API calls a sync makes, in memory; ``conflict_creates`` answers every create with 409."""

    def __init__(self, nodes=("edge-1",), conflict_creates=False, refuse_creates=False):
        self.nodes, self.conflict_creates, self.refuse_creates = list(nodes), conflict_creates, refuse_creates
        self.crs: dict[tuple, dict] = {}
        self.created: list[dict] = []
        self.writes: list[str] = []         # the order of writes: "create Pod", "status", "finalizer"
        self.status_writes = 0
        self.meta_writes = 0
        self.gets = 0
        self.rv = itertools.count(10)

    async def get_cr(self, plural, ns, name):
        self.gets += 1
        return copy.deepcopy(self.crs.get((plural, ns, name)))

    async def create_object(self, ns, manifest):
        if self.conflict_creates and manifest["kind"] != "Event":
            raise KubeError(409, "already exists")
        if self.refuse_creates and manifest["kind"] != "Event":
            raise KubeError(422, "Pod is invalid")
        self.writes.append(f"create {manifest['kind']}")
        obj = copy.deepcopy(manifest)
        meta = obj["metadata"]
        meta.setdefault("name", meta.get("generateName", "x-") + str(next(self.rv)))
        meta.update(namespace=ns, uid=f"uid-{meta['name']}", resourceVersion=str(next(self.rv)))
        self.created.append(obj)
        return copy.deepcopy(obj)

    async def replace_cr_status(self, plural, obj, status):
        key = (plural, obj["metadata"]["namespace"], obj["metadata"]["name"])
        stored = self.crs[key]
        if obj["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]:
            raise KubeError(409, "the object has been modified")
        stored["status"] = copy.deepcopy(status)
        stored["metadata"]["resourceVersion"] = str(next(self.rv))
        self.status_writes += 1
        self.writes.append("status")
        return copy.deepcopy(stored)

    async def patch_cr(self, plural, ns, name, patch):
        """A merge patch of metadata (the GM's finalizer), with its resourceVersion as a precondition."""
        stored = self.crs[(plural, ns, name)]
        meta = dict(patch["metadata"])
        if meta.pop("resourceVersion", None) not in (None, stored["metadata"]["resourceVersion"]):
            raise KubeError(409, "the object has been modified")
        stored["metadata"].update(copy.deepcopy(meta))
        stored["metadata"]["resourceVersion"] = str(next(self.rv))
        self.meta_writes += 1
        self.writes.append("finalizer")
        return copy.deepcopy(stored)

    async def list(self, prefix, plural, namespace, labels=None):
        assert plural == "nodes", plural
        return [{"metadata": {"name": n}} for n in self.nodes]

    async def get_secret(self, ns, name):
        return None

    async def close(self):
        return None


def _gm(kube, cached=None) -> GlobalManager:
    """A GM over ``kube`` with the job ``cp-x`` stored there (and, when given, as kopf's watch last delivered it),
    its Model and Dataset in the watch cache and the owned-object cache synced."""
    gm = GlobalManager(parse_config({}, env={}), kube)
    if cached is not None:
        gm.store["federatedlearningjob"][("default", "cp-x")] = cached
    for kind in gm.children._synced:
        gm.children._synced[kind] = True
    gm.store["model"][("default", "cp-model")] = {"metadata": {"name": "cp-model", "namespace": "default"},
                                                   "spec": {"url": "/models/m.pb", "format": "pb"}}
    gm.store["dataset"][("default", "cp-ds")] = {"metadata": {"name": "cp-ds", "namespace": "default"},
                                                 "spec": {"url": "/d.txt", "format": "txt", "nodeName": "edge-1"}}
    job = fl_job("cp-x")
    job["metadata"].update(uid="job-uid", resourceVersion="1", generation=1)
    kube.crs[("federatedlearningjobs", "default", "cp-x")] = job
    return gm


def _sync_once(kube, cached=None):
    async def run():
        gm = _gm(kube, cached)
        return [await gm.sync("federatedlearningjob", "default", "cp-x") for _ in range(MAX_FOLLOW_UPS + 2)]
    return asyncio.run(run())


def test_follow_up_sync_only_when_it_would_change_something():
    kube = FakeKube()
    delays = _sync_once(kube)
    # pods and Service created, one status write; the follow-up plan is empty: no re-sync, later syncs no-ops
    assert sorted(m["kind"] for m in kube.created) == ["Pod", "Pod", "Service"]
    assert delays == [None] * len(delays) and kube.status_writes == 1

    kube = FakeKube(nodes=())          # the pods are bound to a node that does not exist
    delays = _sync_once(kube)
    assert delays[0] == 0.0            # the follow-up plan reports NodeNotFound: sync again at once
    assert delays[1] is None and kube.status_writes == 2
    st = kube.crs[("federatedlearningjobs", "default", "cp-x")]["status"]
    assert st["conditions"][-1]["reason"] == "NodeNotFound"


def test_a_new_job_gets_its_finalizer_after_its_children_and_status():
    kube = FakeKube()
    _sync_once(kube)
    # the finalizer's watch event then follows the status write's; the children do not wait for it
    assert sorted(kube.writes[:3]) == ["create Pod", "create Pod", "create Service"]
    assert kube.writes[3:] == ["status", "finalizer"]
    assert kube.crs[("federatedlearningjobs", "default", "cp-x")]["metadata"]["finalizers"] == [FINALIZER]


def test_a_job_whose_sync_fails_still_gets_its_finalizer():
    kube = FakeKube(refuse_creates=True)            # e.g. an admission webhook refuses the pods

    async def run():
        return await _gm(kube)._sync_safely(("federatedlearningjob", "default", "cp-x"))
    delay = asyncio.run(run())
    assert delay and delay > 0                      # retried with back-off
    assert kube.writes == ["finalizer"] and not kube.created


def test_a_watch_event_older_than_the_gms_own_write_is_ignored():
    gm = GlobalManager(parse_config({}, env={}), FakeKube())
    job = fl_job("cp-x")
    job["metadata"].update(uid="job-uid", resourceVersion="12", generation=1, finalizers=[FINALIZER])
    key = ("default", "cp-x")
    gm.store["federatedlearningjob"][key] = dict(job, kind="FederatedLearningJob")
    older = copy.deepcopy(job)
    older["metadata"].update(resourceVersion="11")
    del older["metadata"]["finalizers"]                     # the status write's echo, before the finalizer

    async def run():
        await gm.on_cr_event("federatedlearningjobs", "MODIFIED", older)
    asyncio.run(run())
    assert gm.store["federatedlearningjob"][key]["metadata"]["resourceVersion"] == "12"
    assert gm._queue.empty() and not gm._queued         # no sync to add a finalizer the object already has
    recreated = copy.deepcopy(older)
    recreated["metadata"]["uid"] = "another-uid"        # same name, a new object: never "older"
    asyncio.run(gm.on_cr_event("federatedlearningjobs", "ADDED", recreated))
    assert gm.store["federatedlearningjob"][key]["metadata"]["uid"] == "another-uid"


def test_follow_ups_are_bounded():
    kube = FakeKube(conflict_creates=True)     # every create answers 409: the cache never holds the workers
    delays = _sync_once(kube)
    assert delays[:MAX_FOLLOW_UPS] == [0.0] * MAX_FOLLOW_UPS and delays[MAX_FOLLOW_UPS] is None


def test_sync_reads_the_watched_copy_and_falls_back_to_a_get_when_it_is_stale():
    job = fl_job("cp-x")
    job["metadata"].update(uid="job-uid", resourceVersion="1", generation=1)
    kube = FakeKube()
    _sync_once(kube, cached=copy.deepcopy(job))
    assert kube.gets == 0 and kube.status_writes == 1       # the watched copy was current: no GET
    stale = copy.deepcopy(job)
    stale["metadata"]["resourceVersion"] = "0"              # e.g. before someone's label patch arrived
    kube = FakeKube()
    _sync_once(kube, cached=stale)
    # the status write was refused (409); the same sync re-read the CR and wrote once, creating nothing twice
    assert kube.gets == 1 and kube.status_writes == 1 and kube.meta_writes == 1
    assert sorted(m["kind"] for m in kube.created) == ["Pod", "Pod", "Service"]


def test_signed_manifest_leaves_the_plan_unchanged():
    from sedna.gm.auth import GMAuth

    owner = {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob", "name": "fl", "controller": True}
    pod = {"kind": "Pod", "metadata": {"namespace": "ns", "ownerReferences": [owner]},
           "spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}, {"name": "d"}],
                    "volumes": [{"name": "v"}]}}
    dep = {"kind": "Deployment", "metadata": pod["metadata"], "spec": {"replicas": 1, "template": {
        "metadata": {"labels": {"x": "y"}}, "spec": copy.deepcopy(pod["spec"])}}}
    for manifest in (pod, dep):
        before = copy.deepcopy(manifest)
        signed = GMAuth("s3cret").sign_manifest(manifest)
        assert manifest == before
        spec = signed["spec"] if signed["kind"] == "Pod" else signed["spec"]["template"]["spec"]
        assert [len(c["env"]) for c in spec["containers"]] == [5, 4] and spec["volumes"] == [{"name": "v"}]
