"""The dashboard's JSON API and event stream over a real API emulator (FastAPI's TestClient for HTTP)."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from fastapi.testclient import TestClient
from objects import API, crash_looping, fl_job, ji_service, model, put_status, running, worker_pod
from support_procs import wait_for

from sedna.dashboard.app import create_app
from sedna.dashboard.main import DashboardServer

pytestmark = [pytest.mark.timeout(120)]
JI = f"{API}/namespaces/default/jointinferenceservices"


def _row(client, name):
    items = client.get("/api/objects").json()["items"]
    return next((r for r in items if r["name"] == name), None)


def test_overview_lists_crs_failing_first_with_exit_code(kube, dashboard_app):
    kube.post(JI, json=ji_service("healthy"))
    kube.post(JI, json=ji_service("zz-broken"))
    for owner, pod, status in (("healthy", "healthy-edge", running()), ("zz-broken", "broken-edge", crash_looping(7))):
        assert kube.post("/api/v1/namespaces/default/pods", json=worker_pod("JointInferenceService", owner, pod)) \
            .status_code == 201
        put_status(kube, f"/api/v1/namespaces/default/pods/{pod}", status)
    client = TestClient(dashboard_app)
    wait_for(lambda: (_row(client, "zz-broken") or {}).get("failing"), 30, "the broken service failing")
    items = client.get("/api/objects").json()["items"]
    assert [r["name"] for r in items][:2] == ["zz-broken", "healthy"]
    broken = items[0]
    assert broken["kind"] == "JointInferenceService" and broken["failingPods"] == 1
    assert "last exit code 7" in broken["message"]
    detail = client.get("/api/objects/jointinferenceservices/default/zz-broken").json()
    assert detail["pods"][0]["state"] == "CrashLoopBackOff"
    assert detail["pods"][0]["lastExitCode"] == 7 and detail["pods"][0]["restarts"] == 4
    assert not _row(client, "healthy")["failing"]


def test_ji_metrics_history_gains_points(kube, dashboard_app):
    kube.post(JI, json=ji_service("svc"))
    client = TestClient(dashboard_app)
    for n in (1, 2, 2, 5):          # the repeated report adds no point
        put_status(kube, f"{JI}/svc", {"metrics": [{"key": "inferenceNumber", "value": str(n)},
                                                   {"key": "hardExampleNumber", "value": str(n // 2)}]})
        wait_for(lambda n=n: client.get("/api/objects/jointinferenceservices/default/svc").json()
                 .get("page", {}).get("metrics", {}).get("inferenceNumber") == n, 30, f"inferenceNumber {n}")
    history = client.get("/api/objects/jointinferenceservices/default/svc").json()["history"]
    assert history["series"]["inferenceNumber"] == [1, 2, 5]
    assert history["series"]["hardExampleNumber"] == [0, 1, 2]
    assert len(history["t"]) == 3


def test_fl_page_rounds_and_model_metrics(kube, dashboard_app):
    kube.post(f"{API}/namespaces/default/models", json=model("agg-model"))
    kube.post(f"{API}/namespaces/default/federatedlearningjobs", json=fl_job("fl"))
    client = TestClient(dashboard_app)
    conds = []
    for rnd, acc in ((1, 0.5), (2, 0.75)):
        conds.append({"type": "Training", "status": "True", "reason": "DoTraining",
                      "message": f"Round {rnd} reaches at now"})
        put_status(kube, f"{API}/namespaces/default/federatedlearningjobs/fl", {"phase": "Running",
                                                                               "conditions": list(conds)})
        put_status(kube, f"{API}/namespaces/default/models/agg-model",
                   {"metrics": [{"key": "accuracy", "value": str(acc)}]})
        wait_for(lambda acc=acc: client.get("/api/objects/federatedlearningjobs/default/fl").json()
                 .get("page", {}).get("modelMetrics", {}).get("accuracy") == acc, 30, f"accuracy {acc}")
    detail = client.get("/api/objects/federatedlearningjobs/default/fl").json()
    assert [r["round"] for r in detail["page"]["rounds"]] == [1, 2]
    assert detail["row"]["phase"] == "Running"
    series = detail["history"]["series"]
    assert series["round"][-1] == 2 and series["accuracy"][-1] == 0.75


@pytest.mark.parametrize("path", [
    "/api/objects/nosuchkinds/default/x",
    "/api/objects/jointinferenceservices/default/missing",
    "/api/objects/pods/default/x",
    "/api/pods/default/missing/log",
    "/api/objects/jointinferenceservices/default",
])
def test_unknown_kinds_and_names_are_404(dashboard_app, path):
    resp = TestClient(dashboard_app).get(path)
    assert resp.status_code == 404


def test_pod_log_tail_and_unknown_container(kube, dashboard_app, cluster):
    server, _ = cluster
    kube.post(JI, json=ji_service("svc"))
    kube.post("/api/v1/namespaces/default/pods", json=worker_pod("JointInferenceService", "svc", "svc-edge"))
    server.logs_dir.mkdir(parents=True, exist_ok=True)
    (server.logs_dir / "default_svc-edge_worker.log").write_text("".join(f"line {i}\n" for i in range(50)))
    client = TestClient(dashboard_app)
    wait_for(lambda: client.get("/api/pods/default/svc-edge/log").status_code == 200, 30, "the pod cached")
    body = client.get("/api/pods/default/svc-edge/log", params={"tailLines": 3}).json()
    assert body["container"] == "worker" and body["text"].splitlines() == ["line 47", "line 48", "line 49"]
    assert client.get("/api/pods/default/svc-edge/log", params={"container": "nope"}).status_code == 404
    assert client.get("/api/pods/default/svc-edge/log", params={"tailLines": 0}).status_code == 422


def test_info_static_files_and_links(dashboard_app):
    client = TestClient(dashboard_app)
    info = client.get("/api/info").json()
    assert info["metricsLinks"] == [{"name": "gm", "url": "http://127.0.0.1:9/metrics"}]
    assert "restart" in info["historyNote"]
    assert "JointInferenceService" in {k["kind"] for k in info["kinds"]}
    page = client.get("/")
    assert page.status_code == 200 and "/static/vendor/uPlot.iife.min.js" in page.text
    for asset in ("/static/app.js", "/static/app.css", "/static/vendor/uPlot.iife.min.js",
                  "/static/vendor/uPlot.LICENSE", "/static/logo.svg"):
        assert client.get(asset).status_code == 200, asset


def test_token_guard_header_and_browser_cookie(hub):
    client = TestClient(create_app(hub, "s3cret"))
    assert client.get("/api/objects").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/objects", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    first = client.get("/?token=s3cret")             # a browser opening the link it was given
    assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
    assert client.get("/api/objects").status_code == 200      # the cookie now carries it
    client.cookies.clear()
    assert client.get("/api/objects").status_code == 401


def test_stream_sends_snapshot_then_changes(kube, hub):
    """Over a real socket: the SSE stream starts with a snapshot and then pushes the watch's changes."""
    server = DashboardServer(create_app(hub), "127.0.0.1", 0).start_background()
    got: list[tuple[str, dict]] = []
    done = threading.Event()

    def read() -> None:
        with httpx.stream("GET", f"http://127.0.0.1:{server.port}/api/stream", timeout=30) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            event = ""
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    got.append((event, json.loads(line[6:])))
                    if event == "change" and got[-1][1]["target"]["name"] == "late":
                        done.set()
                        return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: got, 10, "the snapshot")
        assert got[0][0] == "snapshot" and got[0][1]["items"] == []
        kube.post(JI, json=ji_service("late"))
        assert done.wait(10), got
        change = got[-1][1]
        assert change["row"]["kind"] == "JointInferenceService" and change["event"] == "ADDED"
    finally:
        server.stop()
