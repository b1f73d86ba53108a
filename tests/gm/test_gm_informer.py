"""The GM's owned-object cache (sedna/gm/informer.py): index rules as a table, and LIST + WATCH against the
real API emulator."""

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml

from sedna.gm.informer import OwnedObjects
from sedna.gm.kube import Connection, KubeClient
from sedna.local.apiserver import BackgroundServer

pytestmark = pytest.mark.timeout(60)

CRDS = Path(__file__).resolve().parents[2] / "deploy" / "crds"

OWNER = {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob", "name": "job", "uid": "job-uid",
         "controller": True}


def pod(name, rv, uid=None, owned=True, ns="default", labelled=False):
    meta = {"name": name, "namespace": ns, "uid": uid or f"uid-{name}", "resourceVersion": str(rv)}
    if owned:
        meta["ownerReferences"] = [OWNER]
    if labelled:       # a pod of one of our Deployments: owned by a ReplicaSet, names its CR by label
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid"}]
        meta["labels"] = {"federatedlearningjob.sedna.io/name": "job", "federatedlearningjob.sedna.io/uid": "job-uid"}
    return {"kind": "Pod", "metadata": meta}


def names(cache, ns="default"):
    return sorted(p["metadata"]["name"] for p in cache.owned("Pod", ns, "job-uid") or [])


@pytest.mark.parametrize("steps,expected", [
    ([("ADDED", pod("a", 5))], ["a"]),
    ([("ADDED", pod("a", 5, owned=False))], []),                               # not ours: not kept
    ([("ADDED", pod("a", 5)), ("DELETED", pod("a", 6))], []),
    ([("created", pod("a", 7)), ("MODIFIED", pod("a", 6))], ["a"]),          # stale event: keeps rv 7
    ([("ADDED", pod("a", 5)), ("deleted", "a"), ("MODIFIED", pod("a", 6))], []),   # late event after our delete
    ([("ADDED", pod("a", 5)), ("deleted", "a"), ("DELETED", pod("a", 6)), ("ADDED", pod("a", 9, uid="new"))],
     ["a"]),                                                                   # recreated under a new UID
    ([("ADDED", pod("a", 5, ns="other"))], []),                                # other namespace
    ([("ADDED", pod("a", 5, owned=False, labelled=True))], ["a"]),            # a Deployment's pod, by label
])
def test_index_rules(steps, expected):
    cache = OwnedObjects(KubeClient(Connection("http://127.0.0.1:9")))
    cache._synced["Pod"] = True
    for op, arg in steps:
        if op == "created":
            cache.created(arg)
        elif op == "deleted":
            cache.deleted("Pod", "default", arg)
        else:
            cache._apply("Pod", op, arg)
    assert names(cache) == expected


def test_unsynced_kind_answers_none_and_relist_keeps_newer_own_writes():
    cache = OwnedObjects(KubeClient(Connection("http://127.0.0.1:9")))
    assert cache.owned("Pod", "default", "job-uid") is None
    cache._synced["Pod"] = True
    cache.created(pod("mine", 20))
    cache._apply("Pod", "ADDED", pod("gone", 3))
    cache._replace("Pod", [pod("listed", 10)], list_rv=15)
    assert names(cache) == ["listed", "mine"]


async def test_list_and_watch_against_the_emulator(tmp_path):
    with BackgroundServer(data_dir=tmp_path / "api") as api:
        changes = []
        kube = KubeClient(Connection(api.url, token="sedna-local"))
        cache = OwnedObjects(kube, on_change=changes.append, retry_seconds=0.2)
        async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": "Bearer sedna-local"}) as http:
            # a real owner, or the emulator's garbage collector removes the pods
            crd = yaml.safe_load((CRDS / "sedna.io_models.yaml").read_text())
            (await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)).raise_for_status()
            for _ in range(100):
                r = await http.post("/apis/sedna.io/v1alpha1/namespaces/default/models", json={
                    "apiVersion": "sedna.io/v1alpha1", "kind": "Model", "metadata": {"name": "m"},
                    "spec": {"url": "/m", "format": "pb"}})
                if r.status_code != 404:
                    break
                await asyncio.sleep(0.05)
            r.raise_for_status()
            owner = {"apiVersion": "sedna.io/v1alpha1", "kind": "Model", "name": "m",
                     "uid": r.json()["metadata"]["uid"]}

            def body(name):
                return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "ownerReferences": [owner]},
                        "spec": {"containers": [{"name": "c", "image": "x"}]}}

            def names_now():
                return sorted(p["metadata"]["name"] for p in cache.owned("Pod", "default", owner["uid"]) or [])

            (await http.post("/api/v1/namespaces/default/pods", json=body("before"))).raise_for_status()
            task = asyncio.create_task(cache.run())
            try:
                for _ in range(200):
                    if cache.owned("Pod", "default", owner["uid"]) is not None:
                        break
                    await asyncio.sleep(0.02)
                assert names_now() == ["before"]
                (await http.post("/api/v1/namespaces/default/pods", json=body("after"))).raise_for_status()
                for _ in range(200):
                    if names_now() == ["after", "before"]:
                        break
                    await asyncio.sleep(0.02)
                assert names_now() == ["after", "before"]
                assert any(c["metadata"]["name"] == "after" for c in changes)
                (await http.delete("/api/v1/namespaces/default/pods/before")).raise_for_status()
                for _ in range(200):
                    if names_now() == ["after"]:
                        break
                    await asyncio.sleep(0.02)
                assert names_now() == ["after"]
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await kube.close()
