"""The GM websocket server with real websockets clients: auth, ack, dedupe, errors, queues, slow LCs."""

import asyncio
import json

import pytest
import websockets
from websockets.asyncio.client import connect

from sedna.api.messages import Message
from sedna.common.tokens import node_token, worker_key
from sedna.gm.auth import GMAuth
from sedna.gm.controllers.base import Downstream
from sedna.gm.messagelayer import MessageServer, NodeQueue, RecentIds

pytestmark = pytest.mark.timeout(30)


class Recorder:
    def __init__(self):
        self.applied: list[tuple[str, Message]] = []
        self.fail_with: Exception | None = None

    async def __call__(self, node, msg):
        if self.fail_with is not None:
            raise self.fail_with
        self.applied.append((node, msg))


async def start(token="", on_connect=None, max_bytes=1 << 20):
    """``token``: the GM secret (node tokens derived from it); empty = no authentication."""
    rec = Recorder()
    auth = GMAuth(token) if token else None
    server = MessageServer(rec, auth=auth, on_connect=on_connect, max_message_bytes=max_bytes)
    await server.start("127.0.0.1", 0)
    return server, rec


def url(server):
    return f"ws://127.0.0.1:{server.port}/"


def status(name="ds1", mid="m1", content=None, kind="Dataset"):
    return Message.build(kind, "default", name, "status", content or {"numberOfSamples": 3},
                         message_id=mid).encode()


async def recv(ws, timeout=5):
    return Message.decode(await asyncio.wait_for(ws.recv(), timeout))


def test_node_queue_latest_per_key():
    async def run():
        q = NodeQueue()
        q.put(Downstream("n", "dataset", "ns", "a", "insert", {"v": 1}))
        q.put(Downstream("n", "dataset", "ns", "b", "insert", {"v": 1}))
        q.put(Downstream("n", "dataset", "ns", "a", "delete"))
        first, second = await q.get(), await q.get()
        assert (first.name, first.operation) == ("a", "delete")
        assert second.name == "b" and len(q) == 0
        q.put(Downstream("n", "dataset", "ns", "c", "insert"))
        q.requeue(first)
        assert q.pending_keys() == ["dataset/ns/a", "dataset/ns/c"]
        newer = Downstream("n", "dataset", "ns", "a", "insert", {"v": 2})
        q.put(newer)
        q.requeue(first)                       # a newer message for the key wins over the failed one
        assert (await q.get()).content == {"v": 2}
    asyncio.run(run())


def test_recent_ids_bounded():
    ids = RecentIds(capacity=3)
    for i in range(5):
        ids.add(str(i))
    assert len(ids) == 3 and "0" not in ids and "4" in ids


async def test_auth_required_when_token_set():
    server, rec = await start(token="s3cret")
    n1 = node_token("s3cret", "n1")
    try:
        with pytest.raises(websockets.exceptions.InvalidStatus) as err:
            async with connect(url(server), additional_headers={"Node-Name": "n1"}):
                pass
        assert err.value.response.status_code == 401
        with pytest.raises(websockets.exceptions.InvalidStatus) as err:
            async with connect(url(server), additional_headers={"Node-Name": "n1",
                                                                 "Authorization": "Bearer wrong"}):
                pass
        assert err.value.response.status_code == 401
        with pytest.raises(websockets.exceptions.InvalidStatus) as err:
            async with connect(url(server), additional_headers={"Authorization": "Bearer s3cret"}):
                pass
        assert err.value.response.status_code == 400          # no Node-Name
        for bad in ("a" * 300, "edge/../x", "node name"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as err:
                async with connect(url(server), additional_headers={"Node-Name": bad,
                                                                     "Authorization": "Bearer s3cret"}):
                    pass
            assert err.value.response.status_code == 400
        for other in ("s3cret", node_token("s3cret", "n2")):     # the secret itself, another node's token
            with pytest.raises(websockets.exceptions.InvalidStatus) as err:
                async with connect(url(server), additional_headers={"Node-Name": "n1",
                                                                     "Authorization": f"Bearer {other}"}):
                    pass
            assert err.value.response.status_code == 401
        async with connect(url(server) + "any/path", additional_headers={
                "Node-Name": "n1", "Authorization": f"Bearer {n1}"}) as ws:
            assert ws.response.headers["Sedna-Worker-Key"] == worker_key("s3cret")
            await ws.send(status())
            reply = await recv(ws)
            assert reply.header.operation == "ack" and reply.header.message_id == "m1"
        assert [n for n, _ in rec.applied] == ["n1"]
    finally:
        await server.stop()


async def test_ack_dedupe_hello_and_malformed_frames():
    server, rec = await start()
    try:
        async with connect(url(server), additional_headers={"Node-Name": "edge-1"}) as ws:
            # upstream hello: ignored, no reply
            await ws.send(json.dumps({"namespace": "", "resourceKind": "", "resourceName": "", "operation": ""}))
            await ws.send(status(mid="a"))
            assert (await recv(ws)).header.message_id == "a"
            await ws.send(status(mid="a"))                   # duplicate: acked again, applied once
            reply = await recv(ws)
            assert (reply.header.operation, reply.header.message_id) == ("ack", "a")
            assert len(rec.applied) == 1
            msg = rec.applied[0][1]
            assert msg.header.resource_kind == "Dataset" and msg.content == {"numberOfSamples": 3}
            for bad in ("not json", "[1]", json.dumps({"header": {"operation": "status"}, "content": "!!!"}),
                        json.dumps({"header": {"operation": "bogus"}})):
                await ws.send(bad)
                reply = await recv(ws)
                assert reply.header.operation == "error" and reply.content["reason"]
            # an operation the GM does not accept from an LC
            await ws.send(Message.build("dataset", "default", "x", "insert", {}, message_id="z").encode())
            reply = await recv(ws)
            assert reply.header.operation == "error" and "insert" in reply.content["reason"]
            # the connection is still usable
            await ws.send(status(mid="b"))
            assert (await recv(ws)).header.message_id == "b"
            # a report without id is applied and not answered
            await ws.send(status(mid=None))
            await ws.send(status(mid="c"))
            assert (await recv(ws)).header.message_id == "c"
            assert len(rec.applied) == 4
    finally:
        await server.stop()


async def test_rejected_report_gets_error_and_transient_failure_no_ack():
    server, rec = await start()
    try:
        async with connect(url(server), additional_headers={"Node-Name": "edge-1"}) as ws:
            rec.fail_with = ValueError("numberOfSamples must be an integer")
            await ws.send(status(mid="r1"))
            reply = await recv(ws)
            assert (reply.header.operation, reply.header.message_id) == ("error", "r1")
            assert "numberOfSamples" in reply.content["reason"]
            await ws.send(status(mid="r1"))                  # re-sent: the same error, not applied again
            again = await recv(ws)
            assert (again.header.operation, again.content) == ("error", reply.content)
            rec.fail_with = RuntimeError("api down")
            await ws.send(status(mid="t1"))
            with pytest.raises(asyncio.TimeoutError):
                await recv(ws, timeout=0.5)                  # no ack: the LC keeps it in its outbox
            rec.fail_with = None
            await ws.send(status(mid="t1"))                  # re-sent later: applied and acked
            assert (await recv(ws)).header.message_id == "t1"
            assert len(rec.applied) == 1
    finally:
        await server.stop()


async def test_downstream_queued_until_connect_and_resync_on_reconnect():
    resyncs = []
    server = None

    async def on_connect(node):
        resyncs.append(node)
        server.send(Downstream(node, "dataset", "default", "resynced", "insert", {"kind": "Dataset"}))

    server, _ = await start(on_connect=on_connect)
    try:
        server.send(Downstream("edge-1", "dataset", "default", "ds1", "insert", {"kind": "Dataset", "n": 1}))
        server.send(Downstream("edge-1", "dataset", "default", "ds1", "insert", {"kind": "Dataset", "n": 2}))
        server.send(Downstream("edge-2", "dataset", "default", "other", "insert", {}))
        async with connect(url(server), additional_headers={"Node-Name": "edge-1"}) as ws:
            got = [await recv(ws), await recv(ws)]
            by_name = {m.header.resource_name: m for m in got}
            assert set(by_name) == {"ds1", "resynced"}
            assert by_name["ds1"].content == {"kind": "Dataset", "n": 2}   # latest only
            assert by_name["ds1"].header.operation == "insert"
            assert by_name["ds1"].header.resource_kind == "dataset"
            assert server.connected_nodes() == ["edge-1"]
        async with connect(url(server), additional_headers={"Node-Name": "edge-1"}) as ws:
            assert (await recv(ws)).header.resource_name == "resynced"
        assert resyncs == ["edge-1", "edge-1"]
    finally:
        await server.stop()


async def test_slow_lc_does_not_stall_others():
    """edge-slow never reads; the GM keeps queueing for it while edge-fast gets everything promptly."""
    server, _rec = await start()
    try:
        slow = await connect(url(server), additional_headers={"Node-Name": "edge-slow"}, max_queue=1,
                             max_size=None)
        slow.transport.pause_reading()                     # a blocked LC: TCP window fills up
        big = {"blob": "x" * 200_000}
        for i in range(60):
            server.send(Downstream("edge-slow", "dataset", "default", f"d{i}", "insert", big))
        async with connect(url(server), additional_headers={"Node-Name": "edge-fast"}) as fast:
            for i in range(20):
                server.send(Downstream("edge-fast", "dataset", "default", f"f{i}", "insert", {"i": i}))
            names = {(await recv(fast, timeout=3)).header.resource_name for _ in range(20)}
            assert names == {f"f{i}" for i in range(20)}
            await fast.send(status(mid="x"))
            assert (await recv(fast, timeout=3)).header.operation == "ack"
        assert len(server.queue("edge-slow")) > 0          # still backed up, nothing lost
        slow.transport.close()
    finally:
        await server.stop()


async def test_oversized_downstream_message_is_skipped():
    server, _rec = await start(max_bytes=10_000)
    try:
        server.send(Downstream("edge-1", "dataset", "default", "huge", "insert", {"blob": "x" * 20_000}))
        server.send(Downstream("edge-1", "dataset", "default", "small", "insert", {"n": 1}))
        async with connect(url(server), additional_headers={"Node-Name": "edge-1"}) as ws:
            assert (await recv(ws)).header.resource_name == "small"
    finally:
        await server.stop()


async def test_oversized_frame_closes_only_that_connection():
    server, _rec = await start(max_bytes=10_000)
    try:
        async with connect(url(server), additional_headers={"Node-Name": "edge-1"}) as ws:
            await ws.send("x" * 20_000)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as err:
                await recv(ws)
            assert err.value.rcvd.code == 1009
        async with connect(url(server), additional_headers={"Node-Name": "edge-1"}) as ws:
            await ws.send(status(mid="ok"))
            assert (await recv(ws)).header.operation == "ack"
    finally:
        await server.stop()
