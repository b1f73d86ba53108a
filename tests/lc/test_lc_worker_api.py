"""The worker-report route's fast path and the outbox's group commit.

- The fast path (``WorkerReportFastPath``) answers exactly as the FastAPI route it stands in front of: every
  case is sent to the app and to the same app without the fast path, and status, body and headers compared.
- Group commit (``Outbox.put_committed``): reports arriving together share one transaction, keep their order,
  and each is answered only once its row is durable; a report answered 200 survives a SIGKILL of the LC.
  Acked rows are deleted by the next transaction (or a short timer), not one transaction per ack.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import threading

import httpx
import pytest
from lc_harness import wait_for

from sedna.api.messages import Message
from sedna.common import tokens
from sedna.lc.config import LCConfig
from sedna.lc.main import LocalController
from sedna.lc.metrics import LCMetrics
from sedna.lc.outbox import ACK_FLUSH_SECONDS, Outbox, OutboxFull
from sedna.lc.store import OutboxAdd, Store
from sedna.lc.workerauth import WorkerAuth

KEY = "worker-key-for-tests"


def token(kind="federatedlearningjob", job="fl1", worker="w1", key=KEY) -> str:
    return "Bearer " + tokens.sign_worker(key, tokens.WorkerClaims(kind, "default", job, worker))


def report(name="w1", owner_kind="federatedlearningjob", owner="fl1", **extra) -> dict:
    body = {"name": name, "namespace": "default", "ownerName": owner, "ownerKind": owner_kind,
            "kind": "train", "status": "running", "ownerInfo": {"currentRound": 1}}
    body.update(extra)
    return body


def controller(tmp_path, name: str, **config) -> LocalController:
    lc = LocalController(LCConfig(gm_address="127.0.0.1:1", node_name="edge-1", rootfs=str(tmp_path),
                                  db_path=str(tmp_path / f"{name}.db"), **config))
    lc.worker_auth.set_key(KEY)
    return lc


def route_only(lc: LocalController):
    """The LC's app without the fast path: every report goes through FastAPI's route."""
    from sedna.lc.api import create_app

    app = create_app(lc.ctx)
    app.user_middleware.clear()   # the middleware stack is built on the first request
    return app


FL = "/sedna/workers/w1/info"
DEEP: list = []
for _ in range(40):
    DEEP = [DEEP]
CASES = [
    ("ok", "POST", FL, {"Authorization": token()}, report()),
    ("no token", "POST", FL, {}, report()),
    ("basic scheme", "POST", FL, {"Authorization": "Basic abc"}, report()),
    ("forged token", "POST", FL, {"Authorization": token(key="other")}, report()),
    ("other job", "POST", FL, {"Authorization": token(job="fl2")}, report()),
    ("other worker", "POST", FL, {"Authorization": token(worker="w2")}, report()),
    ("name mismatch", "POST", FL, {"Authorization": token()}, report(name="w2")),
    ("not json", "POST", FL, {"Authorization": token(), "Content-Type": "application/json"}, b"{nope"),
    ("not an object", "POST", FL, {"Authorization": token()}, [1, 2]),
    ("too deep", "POST", FL, {"Authorization": token()}, report(ownerInfo={"a": DEEP})),
    ("many shallow brackets", "POST", FL, {"Authorization": token()}, report(ownerInfo={"a": [{}] * 40})),
    ("text body", "POST", FL, {"Authorization": token(), "Content-Type": "text/plain"}, b"hello"),
    ("too large", "POST", FL, {"Authorization": token()}, report(ownerInfo={"blob": "x" * 5000})),
    ("schema", "POST", FL, {"Authorization": token()}, report(results="not-a-list")),
    ("no name", "POST", FL, {"Authorization": token()}, {"ownerKind": "federatedlearningjob"}),
    ("unknown kind", "POST", FL, {"Authorization": token(kind="widget")}, report(owner_kind="widget")),
    ("empty owner", "POST", FL, {"Authorization": token(job="")}, report(owner="")),
    ("unknown IL job", "POST", FL, {"Authorization": token(kind="incrementallearningjob")},
     report(owner_kind="IncrementalLearningJob")),
    ("wrong method", "GET", FL, {"Authorization": token()}, None),
    ("trailing slash", "POST", FL + "/", {"Authorization": token()}, report()),
    ("nested path", "POST", "/sedna/workers/a/b/info", {"Authorization": token()}, report()),
    ("health", "GET", "/healthz", {}, None),
]


async def _send(app, method, path, headers, body) -> httpx.Response:
    kw = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lc") as client:
        return await client.request(method, path, headers=headers, **kw)


@pytest.mark.parametrize(("case", "method", "path", "headers", "body"), CASES, ids=[c[0] for c in CASES])
async def test_fast_path_answers_exactly_as_the_route(tmp_path, case, method, path, headers, body):
    fast_lc = controller(tmp_path, "fast", max_report_bytes=4096)
    route_lc = controller(tmp_path, "route", max_report_bytes=4096)
    fast = await _send(fast_lc.app, method, path, headers, body)
    slow = await _send(route_only(route_lc), method, path, headers, body)
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content), case
    assert {k: v for k, v in fast.headers.items()} == {k: v for k, v in slow.headers.items()}
    accepted = case in ("ok", "many shallow brackets")
    assert fast_lc.outbox.depth() == route_lc.outbox.depth() == (1 if accepted else 0)
    assert (fast.status_code == 200) == (accepted or case == "health")
    if path == FL and method == "POST":
        assert fast.json()["Status"] == fast.status_code   # upstream's {"Status", "Message"} body


async def test_fast_path_outbox_full_is_503_as_the_route(tmp_path):
    answers = []
    for lc in (controller(tmp_path, "fast", outbox_max=1), controller(tmp_path, "route", outbox_max=1)):
        app = lc.app if not answers else route_only(lc)
        first = await _send(app, "POST", FL, {"Authorization": token()}, report())
        full = await _send(app, "POST", FL, {"Authorization": token()}, report())
        answers.append((first.status_code, full.status_code, full.content))
    assert answers[0] == answers[1] and answers[0][:2] == (200, 503)


async def test_openapi_document_keeps_the_report_route(tmp_path):
    doc = (await _send(controller(tmp_path, "doc").app, "GET", "/openapi.json", {}, None)).json()
    body = doc["paths"]["/sedna/workers/{worker_name}/info"]["post"]["requestBody"]
    assert "ownerKind" in body["content"]["application/json"]["schema"]["properties"]


# -- group commit ----------------------------------------------------------------------------------------

def status(name: str, seq: int) -> Message:
    return Message.build("FederatedLearningJob", "default", name, "status", {"seq": seq})


def stored(db: str) -> list[tuple[str, int]]:
    """(messageId, seq) of every outbox row, read through a connection of its own (what a restart sees)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT frame FROM outbox ORDER BY id").fetchall()
    return [(m.header.message_id, m.content["seq"]) for m in (Message.decode(r[0]) for r in rows)]


async def test_group_commit_one_transaction_in_order_each_acked_only_when_durable(tmp_path):
    db = str(tmp_path / "db.sqlite")
    store = Store(db)
    batches: list[int] = []
    add_many = store.outbox_add_many

    def recording(rows, max_rows, remove=()):
        batches.append(len(rows))
        return add_many(rows, max_rows, remove)

    store.outbox_add_many = recording
    box = Outbox(store, LCMetrics(), max_rows=1000)
    seen_durable: list[bool] = []

    async def post(seq: int) -> str:
        mid = await box.put_committed(status("fl", seq))
        seen_durable.append(mid in {m for m, _ in stored(db)})   # answered only after its row is on disk
        return mid

    mids = await asyncio.gather(*(post(i) for i in range(50)))
    assert batches == [50]                              # one transaction for the reports that came together
    assert stored(db) == list(zip(mids, range(50)))     # N rows, in the order the reports arrived
    assert seen_durable == [True] * 50 and box.depth() == 50
    assert [e.message_id for e in box.pending_after(0, 100)] == mids
    await box.put_committed(status("fl", 50))           # a later report: a transaction of its own
    assert batches == [50, 1]


async def test_group_commit_keeps_outbox_full_and_coalescing_per_report(tmp_path):
    metrics = LCMetrics()
    box = Outbox(Store(str(tmp_path / "db.sqlite")), metrics, max_rows=3)
    coalesced = [box.put_committed(status("ji", i), coalesce_key="ji/w1") for i in range(3)]
    others = [box.put_committed(status("fl", i)) for i in range(4)]
    results = await asyncio.gather(*coalesced, *others, return_exceptions=True)
    assert [isinstance(r, str) for r in results] == [True, True, True, True, True, False, False]
    assert all(isinstance(r, OutboxFull) for r in results[5:])
    frames = [Message.decode(e.frame) for e in box.pending_after(0, 10)]
    assert [(f.header.resource_name, f.content["seq"]) for f in frames] == [("ji", 2), ("fl", 0), ("fl", 1)]
    assert box.depth() == 3
    assert metrics.outbox_rejected._value.get() == 2
    assert metrics.outbox_depth._value.get() == 3


async def test_group_commit_failure_writes_nothing_and_fails_every_waiter(tmp_path):
    db = str(tmp_path / "db.sqlite")
    store = Store(db)
    box = Outbox(store, LCMetrics(), max_rows=100)
    await box.put_committed(status("fl", 0))
    real = store.outbox_add_many

    def duplicate_id(rows, max_rows, remove=()):   # the last row repeats the first id: the INSERT fails
        return real([*rows, OutboxAdd(rows[0].message_id, "k", "{}")], max_rows, remove)

    store.outbox_add_many = duplicate_id
    results = await asyncio.gather(*(box.put_committed(status("fl", i)) for i in (1, 2, 3)),
                                   return_exceptions=True)
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert [seq for _, seq in stored(db)] == [0] and box.depth() == 1   # rolled back as a whole
    store.outbox_add_many = real
    assert await box.put_committed(status("fl", 4)) and [seq for _, seq in stored(db)] == [0, 4]


async def test_acks_deleted_by_the_next_transaction_or_within_the_flush_delay(tmp_path):
    db = str(tmp_path / "db.sqlite")
    store = Store(db)
    removed: list[list[str]] = []
    add_many = store.outbox_add_many

    def recording(rows, max_rows, remove=()):
        removed.append(list(remove))
        return add_many(rows, max_rows, remove)

    store.outbox_add_many = recording
    metrics = LCMetrics()
    box = Outbox(store, metrics, max_rows=1)
    a = await box.put_committed(status("fl", 0))
    assert box.ack(a) is True
    assert box.ack(a) is False and box.reject(a, "late") is False      # once only
    assert box.depth() == 0 and box.pending_after(0, 10) == []          # gone for the writer and /healthz
    assert [m for m, _ in stored(db)] == [a]                            # (a crash now: sent again, GM dedupes)
    b = await box.put_committed(status("fl", 1))                        # not refused: a's row goes first
    assert removed[-1] == [a] and [m for m, _ in stored(db)] == [b]     # ...in the same transaction as b
    assert box.ack(b) is True
    await asyncio.sleep(ACK_FLUSH_SECONDS * 4)                          # no next report: the timer deletes it
    assert stored(db) == [] and removed[-1] == [b]
    assert box.ack("unknown") is False
    assert metrics.reports_acked._value.get() == 2 and metrics.outbox_depth._value.get() == 0


def test_ack_outside_an_event_loop_deletes_at_once(tmp_path):
    db = str(tmp_path / "db.sqlite")
    box = Outbox(Store(db), LCMetrics(), max_rows=10)
    mid = box.put(status("fl", 0))
    assert box.ack(mid) is True and stored(db) == []


def test_store_batch_api_and_the_single_row_api_agree(tmp_path):
    store = Store(str(tmp_path / "db.sqlite"))
    assert store.outbox_add("a", "k", "{}", None, 2) == (True, 1)
    assert store.outbox_add_many([OutboxAdd("b", "k", "{}", "c"), OutboxAdd("c", "k", "{}", "c"),
                                  OutboxAdd("d", "k", "{}")], 2) == [(True, 2), (True, 2), (False, 2)]
    assert [e.message_id for e in store.outbox_after(0, 10)] == ["a", "c"]
    assert store.outbox_remove("a") and not store.outbox_remove("a") and store.outbox_depth() == 1
    assert Store(str(tmp_path / "db.sqlite")).outbox_depth() == 1


def test_reports_answered_200_survive_a_sigkill(lc_process, tmp_path):
    """Workers post concurrently while the LC is killed: every report it answered 200 is in its outbox."""
    lc = lc_process("127.0.0.1:1", LC_OUTBOX_MAX="100000")   # no GM: everything stays queued
    acked: list[int] = []
    stop = threading.Event()

    def worker(first: int) -> None:
        with httpx.Client(base_url=lc.url, timeout=5) as client:
            seq = first
            while not stop.is_set():
                try:
                    r = client.post("/sedna/workers/w1/info", json=report(ownerInfo={"seq": seq}))
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.append(seq)
                seq += 8

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 200, timeout=20, what="reports accepted")
    lc.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(10)
    db = str(tmp_path / "rootfs" / "var" / "lib" / "sedna" / "database.db")
    kept = {m.content["output"]["ownerInfo"]["seq"] for m in
            (Message.decode(e.frame) for e in Store(db).outbox_after(0, 10 ** 6))}
    assert set(acked) <= kept, sorted(set(acked) - kept)[:10]
    assert len(kept) >= len(acked) >= 200


# -- worker token cache ----------------------------------------------------------------------------------

def test_verified_tokens_cached_until_the_key_changes(tmp_path, monkeypatch):
    from sedna.api.messages import WorkerMessage

    calls = []
    verify = tokens.verify_worker
    monkeypatch.setattr(tokens, "verify_worker", lambda key, tok: calls.append(tok) or verify(key, tok))
    auth = WorkerAuth(tmp_path / "key")
    auth.set_key(KEY)
    msg = WorkerMessage.model_validate(report())
    own = token()
    assert [auth.refuse_report(own, msg) for _ in range(3)] == [None] * 3
    assert len(calls) == 1                                          # verified once
    assert auth.refuse_report(token(key="other"), msg)[0] == 401    # failures are never cached...
    assert auth.refuse_report(token(key="other"), msg)[0] == 401
    assert len(calls) == 3
    assert auth.refuse_report(own, WorkerMessage.model_validate(report(name="w2")))[0] == 403  # claims still checked
    auth.set_key("rotated")                                         # a new GM secret
    assert auth.refuse_report(own, msg)[0] == 401                   # the old key's tokens are refused again
    assert auth.refuse_report(token(key="rotated"), msg) is None


def test_token_cache_is_bounded(tmp_path, monkeypatch):
    from sedna.api.messages import WorkerMessage
    from sedna.lc import workerauth

    monkeypatch.setattr(workerauth, "MAX_VERIFIED_TOKENS", 4)
    auth = WorkerAuth(None)
    auth.set_key(KEY)
    for i in range(10):
        msg = WorkerMessage.model_validate(report(name=f"w{i}"))
        assert auth.refuse_report(token(worker=f"w{i}"), msg) is None
        assert len(auth._verified) <= 4

