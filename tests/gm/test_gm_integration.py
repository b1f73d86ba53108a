"""The GM as a real subprocess against the API emulator over HTTP, with a websocket client playing the LC."""

import asyncio
import json
import sys
from pathlib import Path

import pytest
import support_reference
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).parent))
from gm_cluster import REFERENCE, GMProcess, cluster_fixture, gm_fixture, wait_for  # noqa: F401 - the fixtures

from sedna.api.messages import Message
from sedna.api.yamlio import load_all
from sedna.common.tokens import node_token

pytestmark = [pytest.mark.timeout(180)]
TOKEN = "t0ken"


def sample(name, kind=None):
    support_reference.require()
    docs = load_all((REFERENCE / "samples" / name).read_text())  # YAML 1.2, as kubectl: 24:00 stays a string
    doc = next(d for d in docs if not kind or d["kind"] == kind)
    doc["metadata"]["namespace"] = "default"
    return doc


def model(name, url):
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "Model", "metadata": {"name": name, "namespace": "default"},
            "spec": {"url": url, "format": "pb"}}


def dataset(name, url, node):
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"url": url, "format": "txt", "nodeName": node}}


def env(pod, i=0):
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][i].get("env") or []}


class LC:
    """A websocket client playing a LocalController."""

    def __init__(self, gm: GMProcess, node: str, token: str | None = None):
        # The GM secret is TOKEN; each LC presents its own node token derived from it.
        self.gm, self.node, self.token = gm, node, node_token(TOKEN, node) if token is None else token
        self.ws = None
        self.inbox: list[Message] = []

    async def __aenter__(self):
        self.ws = await connect(self.gm.ws_url, additional_headers={
            "Node-Name": self.node, "Authorization": f"Bearer {self.token}"})
        await self.ws.send(json.dumps({"namespace": "", "resourceKind": "", "resourceName": "", "operation": ""}))
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def expect(self, pred, timeout=45.0, what="message"):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for m in self.inbox:
            if pred(m):
                return m
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"node {self.node}: no {what}; got {[m.header for m in self.inbox]}")
            try:
                m = Message.decode(await asyncio.wait_for(self.ws.recv(), remaining))
            except asyncio.TimeoutError:
                continue
            self.inbox.append(m)
            if pred(m):
                return m

    async def report(self, kind, name, content, mid):
        await self.ws.send(Message.build(kind, "default", name, "status", content, message_id=mid).encode())
        return await self.expect(lambda m: m.header.message_id == mid and m.header.operation in ("ack", "error"),
                                 what=f"ack of {mid}")


def is_msg(kind, name, op="insert"):
    return lambda m: (m.header.resource_kind, m.header.resource_name, m.header.operation) == (kind, name, op)


async def test_end_to_end_samples_lc_channel_and_restart(cluster, gm):
    # --- referenced objects and the samples -------------------------------------------------------------
    ji = sample("jointinferenceservice_v1alpha1.yaml")
    fl = sample("federatedlearningjob_v1alpha1.yaml")
    il = sample("incrementallearningjob_v1alpha1.yaml")
    cluster.create(model(ji["spec"]["cloudWorker"]["model"]["name"], "/models/big.pb"))
    cluster.create(model(ji["spec"]["edgeWorker"]["model"]["name"], "/models/little.pb"))
    cluster.create(model(fl["spec"]["aggregationWorker"]["model"]["name"], "/models/fl"))
    for tw in fl["spec"]["trainingWorkers"]:
        cluster.create(dataset(tw["dataset"]["name"], f"/data/{tw['dataset']['name']}/train.txt", "edge1"))
    cluster.create(model(il["spec"]["initialModel"]["name"], "/models/base/model.pb"))
    cluster.create(model(il["spec"]["deploySpec"]["model"]["name"], "/models/deploy/model.pb"))
    cluster.create(dataset(il["spec"]["dataset"]["name"], "/data/il/train.txt", "edge-node"))
    fl["spec"]["backoffLimit"] = 0      # the first failed pod fails the job (default 6: it is replaced)
    for doc in (ji, fl, il):
        cluster.create(doc)

    # --- JointInferenceService: two deployments, one service, status Running ----------------------------
    n = ji["metadata"]["name"]
    deps = wait_for(lambda: len(cluster.list("Deployment", selector=f"jointinferenceservice.sedna.io/name={n}")) == 2
                    and cluster.list("Deployment", selector=f"jointinferenceservice.sedna.io/name={n}"),
                    what="JI deployments")
    by_type = {d["metadata"]["labels"]["jointinferenceservice.sedna.io/worker-type"]: d for d in deps}
    edge_env = env(by_type["edge"]["spec"]["template"])
    assert edge_env["BIG_MODEL_IP"] == f"{n}-cloud.default" and edge_env["HEM_NAME"] == "IBT"
    assert edge_env["MODEL_URL"] == "/home/data/models/little.pb"
    assert by_type["cloud"]["metadata"]["ownerReferences"][0]["controller"] is True
    assert cluster.get("Service", f"{n}-cloud")["spec"]["ports"][0]["port"] == 5000
    # this API emulator has no nodes: the workers' pods cannot run, and the status says so (with the pod)
    st = wait_for(lambda: ((cluster.get("JointInferenceService", n).get("status") or {}).get("conditions")
                           or [{}])[-1].get("type") == "Pending" and cluster.get("JointInferenceService", n)["status"],
                  what="JI status Pending")
    assert st["conditions"][-1]["reason"] in ("NodeNotFound", "Unschedulable")
    assert f"(pod {n}-deployment-" in st["conditions"][-1]["message"] and st["active"] == 0

    # --- FederatedLearningJob: aggregator + trainers + service -----------------------------------------
    fn = fl["metadata"]["name"]
    sel = f"federatedlearningjob.sedna.io/name={fn}"
    pods = wait_for(lambda: len(cluster.list("Pod", selector=sel)) == 1 + len(fl["spec"]["trainingWorkers"])
                    and cluster.list("Pod", selector=sel), what="FL pods")
    trainers = [p for p in pods if p["metadata"]["generateName"] == f"{fn}-train-"]
    assert len(trainers) == len(fl["spec"]["trainingWorkers"])
    assert {env(p)["AGG_IP"] for p in trainers} == {f"{fn}-aggregation.default"}
    assert all(p["spec"]["hostNetwork"] for p in trainers)
    assert cluster.get("Service", f"{fn}-aggregation")["spec"]["ports"][0]["port"] == 7363

    # --- IncrementalLearningJob: inference pod + (Train, Waiting) ---------------------------------------
    iname = il["metadata"]["name"]
    isel = f"incrementallearningjob.sedna.io/name={iname}"
    wait_for(lambda: len(cluster.list("Pod", selector=isel)) == 1, what="IL inference pod")
    wait_for(lambda: ((cluster.get("IncrementalLearningJob", iname).get("status") or {}).get("conditions") or
                      [{}])[-1].get("type") == "Waiting", what="IL Waiting")

    # --- the LC of edge-node: dataset + initial model + job pushed; reports acked and applied ----------
    async with LC(gm, "edge-node") as lc:
        ds = await lc.expect(is_msg("dataset", il["spec"]["dataset"]["name"]), what="dataset insert")
        assert ds.content["kind"] == "Dataset" and ds.content["spec"]["nodeName"] == "edge-node"
        await lc.expect(is_msg("model", il["spec"]["initialModel"]["name"]), what="initial model")
        job = await lc.expect(is_msg("incrementallearningjob", iname), what="IL job")
        assert job.content["status"]["conditions"][-1]["type"] == "Waiting"
        await lc.expect(is_msg("jointinferenceservice", n), what="JI push")

        ack = await lc.report("Dataset", il["spec"]["dataset"]["name"], {"numberOfSamples": 42}, "m-1")
        assert ack.header.operation == "ack"
        dup = await lc.report("Dataset", il["spec"]["dataset"]["name"], {"numberOfSamples": 42}, "m-1")
        assert dup.header.operation == "ack"
        dst = wait_for(lambda: (cluster.get("Dataset", il["spec"]["dataset"]["name"]).get("status") or {}),
                       what="dataset status")
        assert dst["numberOfSamples"] == 42 and dst["updateTime"]
        err = await lc.report("Dataset", "no-such-dataset", {"numberOfSamples": 1}, "m-2")
        assert err.header.operation == "error" and "does not exist" in err.content["reason"]

        # worker reports forwarded by the LC: JI metrics, FL round + aggregation model metrics
        ji_report = {"phase": "inference", "status": "running", "output": {"models": None, "ownerInfo": {
            "inferenceNumber": 7, "hardExampleNumber": 2, "startTime": "s", "updateTime": "u"}}}
        assert (await lc.report("jointinferenceservice", n, ji_report, "m-ji")).header.operation == "ack"
        metrics = wait_for(lambda: (cluster.get("JointInferenceService", n).get("status") or {}).get("metrics"),
                           what="JI metrics")
        assert metrics == [{"key": "inferenceNumber", "value": "7"}, {"key": "hardExampleNumber", "value": "2"}]
        fl_report = {"phase": "train", "status": "running", "output": {
            "models": [{"format": "pb", "url": "/m", "metrics": {"accuracy": 0.75}}],
            "ownerInfo": {"currentRound": 1, "updateTime": "T1"}}}
        # only a node the job runs on may report about it (the GM binds a channel to its node)
        refused = await lc.report("federatedlearningjob", fl["metadata"]["name"], fl_report, "m-fl")
        assert refused.header.operation == "error" and "may not report" in refused.content["reason"]
        fl_node = fl["spec"]["trainingWorkers"][0]["template"]["spec"]["nodeName"]
        async with LC(gm, fl_node) as fl_lc:
            assert (await fl_lc.report("federatedlearningjob", fl["metadata"]["name"], fl_report, "m-fl2")
                    ).header.operation == "ack"
        agg_model = fl["spec"]["aggregationWorker"]["model"]["name"]
        mst = wait_for(lambda: (cluster.get("Model", agg_model).get("status") or {}).get("metrics"),
                       what="aggregation model metrics")
        assert mst == [{"key": "accuracy", "value": "0.75"}]
        wait_for(lambda: any(c["type"] == "Training" and c["message"] == "Round 1 reaches at T1" for c in (
            cluster.get("FederatedLearningJob", fl["metadata"]["name"]).get("status") or {}).get(
                "conditions", [])), what="FL Training condition")

        # train trigger from the LC -> train pod with the report's URLs
        ready = {"phase": "Train", "status": "Ready", "input": {
            "models": [{"format": "pb", "url": "/models/base/model.pb"}],
            "dataURL": "/output/data/train/1/data.txt", "outputDir": "/output/train/1"}, "output": None}
        assert (await lc.report("IncrementalLearningJob", iname, ready, "m-3")).header.operation == "ack"
        tsel = isel + ",incrementallearningjob.sedna.io/worker-type=train"
        train = wait_for(lambda: cluster.list("Pod", selector=tsel), what="train pod")[0]
        tenv = env(train)
        assert tenv["TRAIN_DATASET_URL"] == "/home/data/output/data/train/1/data.txt"
        assert tenv["MODEL_URL"] == "/home/data/output/train/1"
        # the kubelet runs it on edge-node, then it succeeds -> Completed -> (Eval, Waiting)
        cluster.set_pod_phase(train, "Running")
        wait_for(lambda: cluster.get("IncrementalLearningJob", iname)["metadata"].get("annotations", {}).get(
            "sedna.io/Train") == "edge-node", what="Train annotation")
        cluster.set_pod_phase(train, "Succeeded")
        conds = wait_for(lambda: [(c["stage"], c["type"]) for c in cluster.get(
            "IncrementalLearningJob", iname)["status"]["conditions"]][-1] == ("Eval", "Waiting") and
            cluster.get("IncrementalLearningJob", iname)["status"]["conditions"], what="Eval Waiting")
        assert [(c["stage"], c["type"]) for c in conds] == [
            ("Train", "Waiting"), ("Train", "Ready"), ("Train", "Starting"), ("Train", "Running"),
            ("Train", "Completed"), ("Eval", "Waiting")]
        await lc.expect(lambda m: m.header.resource_name == iname and m.content and
                        m.content["status"]["conditions"][-1]["stage"] == "Eval", what="IL pushed in Eval")

    # an FL pod fails with backoffLimit 0 -> job Failed/BackoffLimitExceeded naming the pod, with an Event
    failed_pod = cluster.list("Pod", selector=sel)[0]
    cluster.set_pod_phase(failed_pod, "Failed")
    wait_for(lambda: (cluster.get("FederatedLearningJob", fn).get("status") or {}).get("phase") == "Failed",
             what="FL Failed")
    cond = cluster.get("FederatedLearningJob", fn)["status"]["conditions"][-1]
    assert cond["reason"] == "BackoffLimitExceeded" and failed_pod["metadata"]["name"] in cond["message"]
    wait_for(lambda: any(e["reason"] == "BackoffLimitExceeded" and e["involvedObject"]["name"] == fn
                         for e in cluster.list("Event")), what="BackoffLimitExceeded event")

    # --- kill -9 and restart: nothing is duplicated -------------------------------------------------------
    counts = {s: len(cluster.list("Pod", selector=s)) for s in (sel, isel)}
    dep_count = len(cluster.list("Deployment"))
    gm.kill9()
    gm.start()
    async with LC(gm, "edge-node") as lc:       # resync on connect after restart
        await lc.expect(is_msg("dataset", il["spec"]["dataset"]["name"]), what="dataset after restart")
        await lc.expect(is_msg("incrementallearningjob", iname), what="IL after restart")
    await asyncio.sleep(2)
    assert {s: len(cluster.list("Pod", selector=s)) for s in (sel, isel)} == counts
    assert len(cluster.list("Deployment")) == dep_count
    metrics = gm.metrics()
    assert "sedna_gm_reconciles_total" in metrics and "sedna_gm_connected_lcs" in metrics


async def test_missing_reference_then_appears_and_delete_notifies_lc(cluster, gm):
    ji = sample("jointinferenceservice_v1alpha1.yaml")
    n = ji["metadata"]["name"] = "ji-missing-ref"
    ji["spec"]["edgeWorker"]["model"]["name"] = "little-2"
    big = ji["spec"]["cloudWorker"]["model"]["name"] = "big-2"
    ji["spec"]["cloudWorker"]["hpa"] = {"minReplicas": 1, "maxReplicas": 3, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                    "averageUtilization": 60}}}]}
    cluster.create(model("little-2", "/models/little.pb"))
    cluster.create(ji)
    sel = f"jointinferenceservice.sedna.io/name={n}"
    st = wait_for(lambda: (cluster.get("JointInferenceService", n).get("status") or {}).get("conditions"),
                  what="Pending condition")
    assert st[-1]["type"] == "Pending" and st[-1]["reason"] == "MissingReference" and big in st[-1]["message"]
    # the Event is written after the status patch: wait for it rather than racing it
    wait_for(lambda: any(e["reason"] == "MissingReference" and big in e["message"] for e in cluster.list("Event")),
             what="MissingReference event")
    assert cluster.list("Deployment", selector=sel) == []
    cluster.create(model(big, "/models/big.pb"))       # the reference appears -> dependants re-reconciled
    wait_for(lambda: len(cluster.list("Deployment", selector=sel)) == 2, timeout=45,
             what="deployments after model created")
    # the workers are created; with no nodes in this API-only cluster they cannot be placed, so the service
    # goes on to Pending/Unschedulable (no longer MissingReference)
    wait_for(lambda: cluster.get("JointInferenceService", n)["status"]["conditions"][-1].get("reason")
             not in (None, "MissingReference"), what="a condition past MissingReference")
    hpa = wait_for(lambda: cluster.http.get(
        f"/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/hpa-{n}-deployment-cloud").json()
        if cluster.http.get(f"/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/"
                            f"hpa-{n}-deployment-cloud").status_code == 200 else None, what="HPA")
    assert hpa["spec"]["maxReplicas"] == 3 and hpa["spec"]["scaleTargetRef"]["name"] == f"{n}-deployment-cloud"

    # moving a Dataset to another node retracts it from the old one; its deletion reaches the LC of its node
    # (finalizer), then the object goes away
    cluster.create(dataset("ds-del", "/data/x.txt", "edge-8"))
    async with LC(gm, "edge-8") as old_lc:
        await old_lc.expect(is_msg("dataset", "ds-del"), what="insert on the first node")
        r = cluster.http.patch(cluster.path("Dataset", "default", "ds-del"), json={"spec": {"nodeName": "edge-9"}},
                               headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        await old_lc.expect(is_msg("dataset", "ds-del", "delete"), what="delete on the old node")
    async with LC(gm, "edge-9") as lc:
        await lc.expect(is_msg("dataset", "ds-del"), what="insert")
        cluster.delete("Dataset", "ds-del")
        await lc.expect(is_msg("dataset", "ds-del", "delete"), what="delete")
    wait_for(lambda: cluster.get("Dataset", "ds-del") is None, what="dataset gone")


async def test_semantic_problem_is_an_event_not_a_crash(cluster, gm):
    ji = sample("jointinferenceservice_v1alpha1.yaml")
    n = ji["metadata"]["name"] = "ji-bad-hem"
    ji["spec"]["edgeWorker"]["hardExampleMining"]["name"] = "NoSuchMiner"
    cluster.create(model(ji["spec"]["edgeWorker"]["model"]["name"] + "-x", "/m/l.pb"))
    ji["spec"]["edgeWorker"]["model"]["name"] += "-x"
    cluster.create(model(ji["spec"]["cloudWorker"]["model"]["name"] + "-x", "/m/b.pb"))
    ji["spec"]["cloudWorker"]["model"]["name"] += "-x"
    cluster.create(ji)
    ev = wait_for(lambda: [e for e in cluster.list("Event") if e["reason"] == "InvalidSpec"
                           and e["involvedObject"]["name"] == n], what="InvalidSpec event")
    assert "NoSuchMiner" in ev[0]["message"] and ev[0]["type"] == "Warning"
    # the GM keeps working (upstream accepts it; the name may be registered by user code)
    wait_for(lambda: len(cluster.list("Deployment", selector=f"jointinferenceservice.sedna.io/name={n}")) == 2,
             what="deployments")


async def test_channel_requires_token(cluster, gm):
    import websockets

    with pytest.raises(websockets.exceptions.InvalidStatus) as err:
        async with LC(gm, "edge-1", token="wrong"):
            pass
    assert err.value.response.status_code == 401


async def test_metrics_and_graceful_sigterm(cluster, gm):
    """Runs last in this module: it stops the shared GM."""
    import time

    async with LC(gm, "edge-metrics") as lc:
        reply = await lc.report("Dataset", "not-there", {"numberOfSamples": 1}, "metrics-1")
        assert reply.header.operation == "error"
        text = gm.metrics()
        assert "sedna_gm_connected_lcs 1.0" in text
        assert 'sedna_gm_messages_total{direction="up",operation="status"} 1.0' in text
        assert "sedna_gm_message_errors_total 1.0" in text
    started = time.monotonic()
    assert gm.stop() == 0
    assert time.monotonic() - started < 10
    assert "GM shutting down" in gm.log()


async def test_delete_while_the_gm_is_down_waits_for_it_and_reaches_the_lc(tmp_path):
    """The GM's own finalizer (sedna/gm/finalizer.py): a Dataset deleted while no GM runs stays, marked, until a
    GM has told the Dataset's LC; then it goes away. kopf's own finalizer is never written."""
    from gm_cluster import Cluster

    from sedna.gm.finalizer import FINALIZER

    for sub in ("cluster", "gm"):
        (tmp_path / sub).mkdir()
    own = Cluster(tmp_path / "cluster").start()
    gm = GMProcess(tmp_path / "gm", own, token=TOKEN)
    try:
        own.apply_crds()
        gm.start()
        own.create(dataset("ds-down", "/data/x.txt", "edge-d"))
        fins = wait_for(lambda: (own.get("Dataset", "ds-down")["metadata"].get("finalizers") or None),
                        what="the GM's finalizer")
        assert fins == [FINALIZER]
        assert gm.stop() in (0, None)
        own.delete("Dataset", "ds-down")
        await asyncio.sleep(1.0)
        marked = own.get("Dataset", "ds-down")
        assert marked is not None and marked["metadata"].get("deletionTimestamp"), "deleted without its LC told"
        gm.start()
        async with LC(gm, "edge-d") as lc:
            await lc.expect(is_msg("dataset", "ds-down", "delete"), what="delete after the GM came back")
        wait_for(lambda: own.get("Dataset", "ds-down") is None, what="dataset gone")
    finally:
        gm.stop()
        own.stop()
