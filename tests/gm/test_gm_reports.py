"""LC status reports through the GM channel: concurrent across objects, ordered and coalesced per object
(issue 16). Real websocket server and client; the applier is a recorder that can be held back."""

import asyncio

import pytest
from websockets.asyncio.client import connect

from sedna.api.messages import Message
from sedna.gm.messagelayer import MessageServer
from sedna.gm.messagelayer.reports import ReportPipeline

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
