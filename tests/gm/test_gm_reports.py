"""LC status reports through the GM channel: concurrent across objects, ordered and coalesced per object
(issue 16). Real websocket server and client; the applier is a recorder that can be held back."""

import asyncio
import copy
from datetime import datetime, timezone

import pytest
from websockets.asyncio.client import connect

from sedna.api.messages import Message
from sedna.gm.controllers import all_controllers
from sedna.gm.messagelayer import MessageServer
from sedna.gm.messagelayer.reports import ReportPipeline
from sedna.gm.operator import GlobalManager

pytestmark = pytest.mark.timeout(30)


class Batches:
    """Records each batch (object, [report ids]); an object's first batch can be held until released."""

    def __init__(self, hold: set[str] = frozenset()):
        self.batches: list[tuple[str, list[str]]] = []
        self.active: set[str] = set()
        self.overlap = 0
        self.release = asyncio.Event()
        self.hold = set(hold)

    async def __call__(self, node, msgs):
        name = msgs[0].header.resource_name
        assert name not in self.active, f"two batches of {name} at once"
        self.active.add(name)
        self.overlap = max(self.overlap, len(self.active))
        try:
            if name in self.hold:
                self.hold.discard(name)
                await self.release.wait()
            await asyncio.sleep(0.01)
            self.batches.append((name, [m.header.message_id for m in msgs]))
            return [ValueError("bad report") if m.content.get("bad") else None for m in msgs]
        finally:
            self.active.discard(name)


def report(name, mid, **content):
    return Message.build("Dataset", "default", name, "status", {"numberOfSamples": 1, **content},
                         message_id=mid)


async def test_pipeline_orders_per_object_batches_while_busy_and_runs_objects_concurrently():
    applier = Batches(hold={"a"})
    pipeline = ReportPipeline(applier)
    futures = [pipeline.submit("n1", report("a", "a1"))]
    await asyncio.sleep(0.02)               # a1 is being applied (held): a2..a4 queue behind it
    futures += [pipeline.submit("n1", report("a", f"a{i}")) for i in (2, 3, 4)]
    futures += [pipeline.submit("n1", report(f"o{i}", f"o{i}")) for i in range(5)]
    others = futures[4:]
    await asyncio.wait_for(asyncio.gather(*others), 5)   # other objects are not stuck behind "a"
    assert not futures[0].done()
    applier.release.set()
    await asyncio.wait_for(asyncio.gather(*futures), 5)
    a_batches = [ids for name, ids in applier.batches if name == "a"]
    assert a_batches == [["a1"], ["a2", "a3", "a4"]], "in order; the queued ones as one batch"
    assert applier.overlap > 1
    assert pipeline.busy_objects() == 0


async def test_pipeline_rejects_single_reports_and_fails_whole_batch_on_errors():
    async def broken(node, msgs):
        raise RuntimeError("API down")

    applier = Batches()
    pipeline = ReportPipeline(applier)
    ok, bad = pipeline.submit("n", report("x", "1")), pipeline.submit("n", report("y", "2", bad=True))
    assert await ok is None
    with pytest.raises(ValueError, match="bad report"):
        await bad
    failing = ReportPipeline(broken)
    with pytest.raises(RuntimeError, match="API down"):
        await failing.submit("n", report("x", "1"))


async def test_channel_acks_every_report_and_dedupes_in_flight_copies():
    applier = Batches(hold={"held"})
    server = MessageServer(lambda node, msg: None, apply_batch=applier)
    await server.start("127.0.0.1", 0)
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/", additional_headers={"Node-Name": "n1"}) as ws:
            await ws.send(report("held", "h1").encode())
            await asyncio.sleep(0.05)
            await ws.send(report("held", "h1").encode())            # a resend while the first is applied
            for i in range(50):
                await ws.send(report(f"obj{i % 10}", f"m{i}", bad=(i == 7)).encode())
            answers = {}
            while len(answers) < 50:
                msg = Message.decode(await asyncio.wait_for(ws.recv(), 5))
                answers[msg.header.message_id] = msg.header.operation
            assert answers["m7"] == "error" and sum(op == "ack" for op in answers.values()) == 49
            applier.release.set()
            held = [Message.decode(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
            assert [(m.header.message_id, m.header.operation) for m in held] == [("h1", "ack")] * 2
        assert [ids for name, ids in applier.batches if name == "held"] == [["h1"]], "applied once"
        per_object = {}
        for name, ids in applier.batches:
            per_object.setdefault(name, []).extend(ids)
        for i in range(10):
            assert per_object[f"obj{i}"] == [f"m{j}" for j in range(i, 50, 10)], "arrival order per object"
    finally:
        await server.stop()


# ---- applying reports to a CR (pure) -------------------------------------------------------------------

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def fl_job(conditions=()):
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob",
            "metadata": {"name": "fl", "namespace": "default", "resourceVersion": "7"},
            "spec": {"aggregationWorker": {"model": {"name": "agg"}}, "trainingWorkers": []},
            "status": {"phase": "Running", "conditions": list(conditions)}}


def fl_round(n, mid=None):
    return Message.build("federatedlearningjob", "default", "fl", "status",
                         {"phase": "train", "status": "running",
                          "output": {"models": [], "ownerInfo": {"currentRound": n}}}, message_id=mid or f"m{n}")


LC_REPORT = {"phase": "train", "status": "completed",
             "output": {"models": [{"format": "pb", "url": "/m", "metrics": {"acc": 0.5},
                                    "current_metric": {"t1": {"acc": 0.5}}, "classes": ["a"]}],
                        "ownerInfo": {"currentRound": 3, "inferenceNumber": 9}}}


@pytest.mark.parametrize("kind", ["federatedlearningjob", "incrementallearningjob", "lifelonglearningjob",
                                  "jointinferenceservice", "featureextractionservice"])
def test_report_handlers_leave_the_object_they_build_on_untouched(kind):
    """Handlers copy the status one level deep only (issue 16): they must never change the object in place."""
    ctrl = all_controllers()[kind]
    obj = fl_job([{"type": "Training", "status": "True", "message": "Round 1 reaches at "}])
    obj["status"]["metrics"] = [{"key": "x", "value": "1"}]
    obj["status"]["knowledgeBase"] = {"samples": {"numberOfUnseenSample": 1}}
    before = copy.deepcopy(obj)
    writes = ctrl.upstream(obj, LC_REPORT, NOW)
    assert writes, "the report changes something"
    assert obj == before


def test_a_batch_of_round_reports_becomes_one_status_with_every_round_in_order():
    ctrl = all_controllers()["federatedlearningjob"]
    results, status, others = GlobalManager._fold_reports(ctrl, fl_job(), [fl_round(n) for n in range(1, 301)])
    assert results == [None] * 300 and not others
    assert [c["message"] for c in status["conditions"]] == [f"Round {n} reaches at " for n in range(1, 301)]


def test_a_resent_batch_that_was_already_applied_appends_nothing_again():
    """The GM wrote a batch and died before acking it: the LC re-sends it, maybe with newer reports behind."""
    ctrl = all_controllers()["federatedlearningjob"]
    _, applied, _ = GlobalManager._fold_reports(ctrl, fl_job(), [fl_round(n) for n in range(1, 6)])
    obj = fl_job(applied["conditions"])
    results, status, _ = GlobalManager._fold_reports(ctrl, obj, [fl_round(n) for n in range(1, 6)])
    assert results == [None] * 5 and status is None
    results, status, _ = GlobalManager._fold_reports(ctrl, obj, [fl_round(n) for n in range(3, 9)])
    assert results == [None] * 6
    assert [c["message"] for c in status["conditions"]] == [f"Round {n} reaches at " for n in range(1, 9)]
    # a new report that happens to repeat an older, non-newest condition is applied as usual
    results, status, _ = GlobalManager._fold_reports(ctrl, obj, [fl_round(2), fl_round(9)])
    assert [c["message"] for c in status["conditions"]][-2:] == ["Round 2 reaches at ", "Round 9 reaches at "]
