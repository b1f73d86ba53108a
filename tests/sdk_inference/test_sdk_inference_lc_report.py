"""LCClient and LCReporter against a recording LC: auth header, body shape, reports kept while the LC is down."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sdk_inference_support import AppServer, free_port, recording_lc_app, wait_for

from sedna.api.messages import WorkerMessage
from sedna.service.client import LCClient, LCReporter

pytestmark = pytest.mark.timeout(60)

BASE = {"name": "edgeworker-abcde", "namespace": "default", "ownerName": "ji", "ownerKind": "jointinferenceservice",
        "kind": "inference", "results": []}


def test_lc_client_send_with_token(monkeypatch):
    monkeypatch.setenv("LC_API_TOKEN", "tkn")
    app, records, headers = recording_lc_app(token="tkn")
    lc = AppServer(app).start()
    try:
        answer = LCClient.send(lc.url, "w1", {"name": "w1", "kind": "train", "status": "completed"})
        assert answer == {"Status": 200, "Message": "OK"}
        assert headers[-1]["authorization"] == "Bearer tkn"
        # name mismatch is refused by the LC -> None (after the bounded retries)
        assert LCClient.send(lc.url, "w2", {"name": "w1"}, retries=1) is None
        monkeypatch.delenv("LC_API_TOKEN")
        assert LCClient.send(lc.url, "w1", {"name": "w1"}, retries=1) is None  # no token -> 401
        assert len(records) == 1
    finally:
        lc.stop()


def test_reporter_owner_info_shape_and_only_on_change():
    app, records, _ = recording_lc_app()
    lc = AppServer(app).start()
    reporter = LCReporter(lc.url, dict(BASE), period_interval=0.05)
    reporter.start()
    try:
        for _ in range(3):
            reporter.update_for_edge_inference()
        reporter.update_for_collaboration_inference()
        reporter.update_for_failed_offload()
        assert wait_for(lambda: records and records[-1]["ownerInfo"]["inferenceNumber"] == 4)
        info = records[-1]["ownerInfo"]
        assert info["hardExampleNumber"] == 1
        assert info["uploadCloudRatio"] == pytest.approx(0.25)
        assert info["failedOffloadNumber"] == 1
        assert set(info) == {"startTime", "updateTime", "inferenceNumber", "hardExampleNumber",
                             "uploadCloudRatio", "failedOffloadNumber"}
        time.strptime(info["updateTime"], "%Y-%m-%d %H:%M:%S")
        msg = WorkerMessage.model_validate(records[-1])
        assert (msg.name, msg.owner_kind, msg.kind) == ("edgeworker-abcde", "jointinferenceservice", "inference")
        count = len(records)
        time.sleep(0.3)
        assert len(records) == count  # nothing changed, nothing sent
    finally:
        reporter.stop()
        lc.stop()


def test_reports_kept_while_lc_down_and_sent_when_back():
    # phase 1: an LC that accepts connections but never answers (each send waits for its 0.5 s timeout)
    port = free_port()
    blackhole = socket.socket()
    blackhole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blackhole.bind(("127.0.0.1", port))
    blackhole.listen(64)
    reporter = LCReporter(f"http://127.0.0.1:{port}", dict(BASE), period_interval=0.05, max_pending=5,
                          send_timeout=0.5)
    reporter.start()
    stop = threading.Event()
    latencies = []

    def infer_loop():
        while not stop.is_set():
            t0 = time.perf_counter()
            reporter.update_for_edge_inference()
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.01)

    worker = threading.Thread(target=infer_loop)
    worker.start()
    try:
        assert wait_for(lambda: reporter.dropped_number > 0, timeout=20)
        assert len(reporter.pending) == 5  # bounded
        assert max(latencies) < 0.25  # counting never waited on the unresponsive LC (0.5 s per send)
        blackhole.close()
        app, records, _ = recording_lc_app()
        lc = AppServer(app, port=port).start()
        try:
            assert wait_for(lambda: reporter.sent_number >= 5 and not reporter.pending, timeout=15)
            numbers = [r["ownerInfo"]["inferenceNumber"] for r in records]
            assert numbers == sorted(numbers)  # delivered oldest first
            stop.set()
            worker.join()
            reporter.stop()
            assert records[-1]["ownerInfo"]["inferenceNumber"] == reporter.inference_number
        finally:
            lc.stop()
    finally:
        stop.set()
        worker.join()
        reporter.stop(flush=False)
        blackhole.close()


def test_refused_reports_are_dropped_server_errors_kept():
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    answers = [503, 401, 200]
    seen = []
    app = FastAPI()

    @app.post("/sedna/workers/{worker}/info")
    def info(worker: str):
        status = answers.pop(0) if answers else 200
        seen.append(status)
        return JSONResponse(status_code=status, content={"Status": status, "Message": "x"})

    lc = AppServer(app).start()
    try:
        reporter = LCReporter(lc.url, dict(BASE), period_interval=60)
        reporter.update_for_edge_inference()
        assert reporter.flush() is False  # 503: kept for later
        assert len(reporter.pending) == 1 and reporter.sent_number == 0
        assert reporter.flush() is True  # 401: refused for good, dropped, not blocking
        assert reporter.rejected_number == 1 and not reporter.pending
        reporter.update_for_edge_inference()
        assert reporter.flush() is True and reporter.sent_number == 1
        assert seen == [503, 401, 200]
    finally:
        lc.stop()
