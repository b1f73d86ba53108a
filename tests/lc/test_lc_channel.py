"""The LC as a real process against a real websocket server playing the GM (gm-lc-protocol §2-§5, §7)."""

from __future__ import annotations

import json
import signal
import time

import httpx
from lc_harness import wait_for

from sedna.api.messages import Message


def dataset(name: str, url: str, fmt: str = "txt", node: str = "edge-1") -> dict:
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
            "metadata": {"name": name, "namespace": "default", "uid": "u1"},
            "spec": {"url": url, "format": fmt, "nodeName": node}}


def job(kind: str, name: str, **spec) -> dict:
    return {"kind": kind, "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def report(name="w1", owner_kind="federatedlearningjob", owner="fl1", **extra) -> dict:
    body = {"name": name, "namespace": "default", "ownerName": owner, "ownerKind": owner_kind,
            "kind": "train", "status": "completed",
            "results": [{"format": "pb", "url": "/m/model.pb", "metrics": {"acc": [0.9]}}],
            "ownerInfo": {"currentRound": 1}}
    body.update(extra)
    return body


def test_hello_headers_token_and_dataset_counting(fake_gm, lc_process, tmp_path):
    gm = fake_gm(token="s3cret")
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    data = rootfs / "data" / "train.txt"
    data.write_text("a.jpg 1\nb.jpg 0\nc.jpg 1\n")
    lc = lc_process(gm.address, rootfs, SEDNA_CHANNEL_TOKEN="s3cret")
    wait_for(gm.connected, what="LC connection")
    hs = gm.handshakes[0]
    assert hs["Node-Name"] == "edge-1" and hs["Authorization"] == "Bearer s3cret" and hs["path"] == "/"
    first = json.loads(wait_for(lambda: gm.frames, what="hello")[0])
    assert first == {"namespace": "", "resourceKind": "", "resourceName": "", "operation": ""}

    gm.push("dataset", "insert", dataset("ds1", "/data/train.txt"))
    msgs = wait_for(lambda: gm.status_messages("Dataset", "ds1"), what="count report")
    assert msgs[0].header.resource_kind == "Dataset" and msgs[0].header.namespace == "default"
    assert msgs[0].content == {"numberOfSamples": 3}

    with open(data, "a") as f:
        f.write("d.jpg 0\ne.jpg 1\n")
    wait_for(lambda: len(gm.status_messages("Dataset", "ds1")) == 2, what="recount")
    assert gm.status_messages("Dataset", "ds1")[1].content == {"numberOfSamples": 5}

    # the store row exists (upstream key format) and the metrics reflect the work
    import sqlite3
    db = rootfs / "var/lib/sedna/database.db"
    names = [r[0] for r in sqlite3.connect(db).execute("select name from resources")]
    assert names == ["default/dataset/ds1"]
    metrics = httpx.get(lc.url + "/metrics").text
    assert "sedna_lc_reports_acked_total" in metrics and 'sedna_lc_dataset_samples{name="ds1"' in metrics

    gm.push("dataset", "delete", dataset("ds1", "/data/train.txt"))
    wait_for(lambda: not list(sqlite3.connect(db).execute("select name from resources")), what="row deleted")
    assert lc.stop() == 0


def test_wrong_token_is_refused_and_retried(fake_gm, lc_process):
    gm = fake_gm(token="right")
    lc = lc_process(gm.address, SEDNA_CHANNEL_TOKEN="wrong")
    wait_for(lambda: gm.rejected >= 2, what="retries after 401")
    assert gm.connected() == 0
    line = next(ln for ln in lc.logs().splitlines() if "check SEDNA_CHANNEL_TOKEN" in ln)
    doc = json.loads(line)   # structured logs: one JSON object per line
    assert doc["level"] == "ERROR" and doc["logger"] == "sedna.lc.gmclient"


def test_worker_reports_forwarded_per_manager(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address)
    wait_for(gm.connected, what="LC connection")
    gm.push("incrementallearningjob", "insert", job("IncrementalLearningJob", "il1", outputDir="/out/il1"))
    gm.push("lifelonglearningjob", "insert", job("LifelongLearningJob", "ll1", outputDir="/out/ll1"))
    wait_for(lambda: "applied insert lifelonglearningjob" in lc.logs(), what="jobs applied")

    r = lc.report("w1", report())
    assert r.status_code == 200 and r.json() == {"Status": 200, "Message": "OK"}
    ji = report("ji-w", "jointinferenceservice", "ji1", kind="inference", ownerInfo={"inferenceNumber": 5})
    ji.pop("status")
    assert lc.report("ji-w", ji).status_code == 200
    assert lc.report("t1", report("t1", "incrementallearningjob", "il1")).status_code == 200
    assert lc.report("t2", report("t2", "lifelonglearningjob", "ll1", kind="eval")).status_code == 200
    unknown = lc.report("t3", report("t3", "incrementallearningjob", "nope"))
    assert unknown.status_code == 404 and "not known" in unknown.json()["Message"]

    wait_for(lambda: len(gm.messages) == 4, what="4 forwarded reports")
    by_name = {m.header.resource_name: m for m in gm.messages}
    fl = by_name["fl1"]
    assert fl.header.resource_kind == "federatedlearningjob" and fl.header.operation == "status"
    assert fl.content == {"phase": "train", "status": "completed",
                          "output": {"models": [{"format": "pb", "url": "/m/model.pb", "metrics": {"acc": [0.9]}}],
                                     "ownerInfo": {"currentRound": 1}}}
    assert by_name["ji1"].header.resource_kind == "jointinferenceservice"
    assert by_name["ji1"].content == {"phase": "inference", "status": "",
                                      "output": {"models": None, "ownerInfo": {"inferenceNumber": 5}}}
    assert by_name["il1"].header.resource_kind == "IncrementalLearningJob"
    assert by_name["il1"].content["output"]["models"][0]["url"] == "/m/model.pb"
    assert by_name["ll1"].header.resource_kind == "LifelongLearningJob"
    assert by_name["ll1"].content["phase"] == "eval"
    assert all(m.header.message_id for m in gm.messages)


def test_malformed_reports_rejected_without_harm(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address, LC_MAX_REPORT_BYTES="4096")
    url = f"{lc.url}/sedna/workers/w1/info"
    cases = [
        (httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400, "not JSON"),
        (httpx.post(url, json=[1, 2]), 400, "JSON object"),
        (httpx.post(url, json=report("other")), 400, "does not match"),
        (httpx.post(url, json=report(owner_kind="dataset")), 400, "ownerKind"),
        (httpx.post(url, json=report(results="x")), 422, "results"),
        (httpx.post(url, json={"namespace": "default"}), 422, "name"),
        (httpx.post(url, json=report(ownerInfo={"pad": "x" * 5000})), 413, "larger"),
        (httpx.post(url, content=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"}), 415,
         "JSON"),
    ]
    for resp, code, text in cases:
        assert resp.status_code == code, resp.text
        assert resp.json()["Status"] == code and text in resp.json()["Message"]
    assert httpx.get(url).status_code == 405
    # the next good report still goes through, and only it reached the GM
    assert lc.report("w1", report()).status_code == 200
    wait_for(lambda: gm.messages, what="good report")
    assert len(gm.messages) == 1 and gm.messages[0].header.resource_name == "fl1"
    assert 'sedna_lc_worker_messages_total{owner_kind="unknown",result="400"}' in httpx.get(lc.url + "/metrics").text


def test_api_token_required_when_set(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address, LC_API_TOKEN="tok")
    assert lc.report("w1", report()).status_code == 401
    assert lc.report("w1", report(), headers={"Authorization": "Bearer nope"}).status_code == 401
    assert lc.report("w1", report(), headers={"Authorization": "Bearer tok"}).status_code == 200
    assert httpx.get(lc.url + "/healthz").status_code == 200


def test_gm_outage_delivers_everything_once_in_order(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address)
    wait_for(gm.connected, what="LC connection")
    assert lc.report("w1", report(ownerInfo={"seq": 0})).status_code == 200
    wait_for(lambda: len(gm.messages) == 1, what="first report")
    gm.stop()
    wait_for(lambda: not httpx.get(lc.url + "/healthz").json()["gmConnected"], what="LC sees the outage")
    for i in range(1, 31):
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    assert httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 30
    gm.start()
    wait_for(lambda: len(gm.messages) == 31, timeout=15, what="all 31 reports")
    seqs = [m.content["output"]["ownerInfo"]["seq"] for m in gm.messages]
    assert seqs == list(range(31))
    wait_for(lambda: httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 0, what="outbox drained")
    assert gm.duplicates == 0


def test_unacked_reports_resent_after_reconnect_and_gm_dedupes(fake_gm, lc_process):
    gm = fake_gm(ack=False)
    lc = lc_process(gm.address)
    wait_for(gm.connected, what="LC connection")
    for i in range(5):
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    wait_for(lambda: len(gm.messages) == 5, what="5 reports (unacked)")
    gm.ack = True
    gm.stop()   # drop the link: the LC must re-send the 5 unacked frames
    gm.start()
    wait_for(lambda: gm.duplicates == 5, timeout=15, what="re-sent frames")
    wait_for(lambda: httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 0, what="acked")
    assert [m.content["output"]["ownerInfo"]["seq"] for m in gm.messages] == list(range(5))


def test_sigkill_restart_drains_outbox_and_resumes_resources(fake_gm, lc_process, tmp_path):
    gm = fake_gm()
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "data" / "d.txt").write_text("x\ny\n")
    lc = lc_process(gm.address, rootfs)
    wait_for(gm.connected, what="LC connection")
    gm.push("dataset", "insert", dataset("ds1", "/data/d.txt"))
    wait_for(lambda: gm.status_messages("Dataset"), what="count")
    gm.stop()
    for i in range(10):
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    lc.stop(signal.SIGKILL)
    (rootfs / "data" / "d.txt").write_text("x\ny\nz\n")
    gm.start()
    lc.start()   # same env: same database, same port
    wait_for(lambda: len(gm.status_messages("federatedlearningjob")) == 10, timeout=15, what="drained outbox")
    assert [m.content["output"]["ownerInfo"]["seq"] for m in gm.status_messages("federatedlearningjob")] == \
        list(range(10))
    # the dataset monitor resumed from the store without a new insert from the GM
    wait_for(lambda: any(m.content == {"numberOfSamples": 3} for m in gm.status_messages("Dataset")),
             what="resumed dataset monitor")
    assert gm.duplicates == 0
    assert lc.stop() == 0


def test_bad_frames_answered_with_error_and_link_kept(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address)
    wait_for(gm.connected, what="LC connection")
    gm.push_raw('{"header": {"operation": "insert", "resourceKind": "dataset"}, "content": "!!notbase64"}')
    gm.push_raw("not json at all")
    gm.push("unknownkind", "insert", {"metadata": {"name": "x"}})
    gm.push("dataset", "insert", {"metadata": {"name": "bad"}, "spec": {"url": "ftp://x/y", "format": "txt"}})
    errors = wait_for(lambda: [Message.decode(f) for f in gm.frames if '"error"' in f], what="error frames")
    assert "base64" in errors[0].content["reason"]
    assert len(gm.handshakes) == 1 and gm.connected() == 1
    assert lc.report("w1", report()).status_code == 200
    wait_for(lambda: gm.messages, what="report after bad frames")
    assert "only host paths and s3://" in lc.logs()


def test_update_is_applied_like_insert(fake_gm, lc_process, tmp_path):
    gm = fake_gm()
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "data" / "a.csv").write_text("h1,h2\n1,2\n3,4\n5,6\n")
    lc = lc_process(gm.address, rootfs)
    wait_for(gm.connected, what="LC connection")
    gm.push("dataset", "update", dataset("ds2", "/data/a.csv", fmt="CSV"))
    msgs = wait_for(lambda: gm.status_messages("Dataset", "ds2"), what="csv count")
    assert msgs[0].content == {"numberOfSamples": 3}
    gm.push("dataset", "insert", dataset("escape", "/../../etc/passwd"))
    wait_for(lambda: "resolves outside the root" in lc.logs(), what="traversal refused")
    assert not gm.status_messages("Dataset", "escape")


def test_upstream_gm_detected_without_any_setting(fake_gm, lc_process):
    """Upstream's GM never acks and advertises no capability: with default settings the LC notices it from the
    handshake, sends fire-and-forget, drains its outbox and does not reconnect or re-send."""
    gm = fake_gm(upstream=True)
    lc = lc_process(gm.address, LC_ACK_TIMEOUT_SECONDS="0.5", LC_OUTBOX_WINDOW="2")
    wait_for(gm.connected, what="LC connection")
    for i in range(5):   # more than the window: must not stall waiting for acks that never come
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    wait_for(lambda: len(gm.messages) == 5, what="all reports without acks")
    wait_for(lambda: httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 0, what="outbox emptied")
    time.sleep(1.5)   # three ack timeouts: a LC waiting for acks would have reconnected and re-sent by now
    assert len(gm.handshakes) == 1 and gm.duplicates == 0
    assert [m.content["output"]["ownerInfo"]["seq"] for m in gm.messages] == list(range(5))
    metrics = httpx.get(lc.url + "/metrics").text
    assert "sedna_lc_gm_acks 0.0" in metrics
    wait_for(lambda: "fire-and-forget" in lc.logs(), what="the mode logged")
    assert lc.logs().count("does not acknowledge") == 1


def test_our_gm_detected_as_acking(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address)
    wait_for(gm.connected, what="LC connection")
    assert lc.report("w1", report()).status_code == 200
    wait_for(lambda: httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 0, what="acked")
    assert "sedna_lc_gm_acks 1.0" in httpx.get(lc.url + "/metrics").text


def test_gm_without_acks_forced_by_setting(fake_gm, lc_process):
    gm = fake_gm(ack=False)   # advertises acks but sends none: LC_GM_ACKS=false overrides the detection
    lc = lc_process(gm.address, LC_GM_ACKS="false", LC_OUTBOX_WINDOW="2")
    wait_for(gm.connected, what="LC connection")
    for i in range(5):   # more than the window: must not stall waiting for acks that never come
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    wait_for(lambda: len(gm.messages) == 5, what="all reports without acks")
    wait_for(lambda: httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 0, what="outbox emptied")


def test_unacked_frames_resent_after_ack_timeout(fake_gm, lc_process):
    gm = fake_gm(ack=False)   # a GM that cannot apply reports for now keeps them unacked
    lc = lc_process(gm.address, LC_ACK_TIMEOUT_SECONDS="0.5")
    wait_for(gm.connected, what="LC connection")
    for i in range(3):
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    wait_for(lambda: len(gm.messages) == 3, what="first delivery")
    gm.ack = True   # the GM recovers; the link itself never dropped
    wait_for(lambda: httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 0, timeout=15, what="acked")
    assert len(gm.handshakes) >= 2 and gm.duplicates >= 3
    assert [m.content["output"]["ownerInfo"]["seq"] for m in gm.messages] == [0, 1, 2]


def test_outage_coalesces_only_superseding_reports(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address)
    wait_for(gm.connected, what="LC connection")
    gm.stop()
    wait_for(lambda: not httpx.get(lc.url + "/healthz").json()["gmConnected"], what="LC sees the outage")
    for i in range(5):
        ji = report("ji-w", "jointinferenceservice", "ji1", kind="inference", ownerInfo={"seq": i})
        assert lc.report("ji-w", ji).status_code == 200
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    gm.start()
    wait_for(lambda: len(gm.status_messages("federatedlearningjob")) == 5, what="all FL reports")
    wait_for(lambda: gm.status_messages("jointinferenceservice"), what="JI metrics")
    time.sleep(0.3)
    ji_msgs = gm.status_messages("jointinferenceservice")
    assert [m.content["output"]["ownerInfo"]["seq"] for m in ji_msgs] == [4]   # only the newest metrics
    assert [m.content["output"]["ownerInfo"]["seq"] for m in gm.status_messages("federatedlearningjob")] == \
        [0, 1, 2, 3, 4]


def test_full_outbox_refuses_with_503_and_recovers(fake_gm, lc_process):
    gm = fake_gm()
    lc = lc_process(gm.address, LC_OUTBOX_MAX="3")
    wait_for(gm.connected, what="LC connection")
    gm.stop()
    wait_for(lambda: not httpx.get(lc.url + "/healthz").json()["gmConnected"], what="LC sees the outage")
    for i in range(3):
        assert lc.report("w1", report(ownerInfo={"seq": i})).status_code == 200
    full = lc.report("w1", report(ownerInfo={"seq": 99}))
    assert full.status_code == 503 and "outbox full" in full.json()["Message"]
    full_lines = [ln for ln in lc.logs().splitlines() if '"sedna.lc.outbox"' in ln and "outbox full" in ln]
    assert len(full_lines) == 1 and "LC_OUTBOX_MAX" in full_lines[0]   # one clear line, not one per report
    assert lc.report("w1", report(ownerInfo={"seq": 100})).status_code == 503
    gm.start()
    wait_for(lambda: len(gm.messages) == 3, what="queued reports delivered")
    wait_for(lambda: httpx.get(lc.url + "/healthz").json()["outboxDepth"] == 0, what="drained")
    assert lc.report("w1", report(ownerInfo={"seq": 3})).status_code == 200
    wait_for(lambda: len(gm.messages) == 4, what="accepting again")
    assert [m.content["output"]["ownerInfo"]["seq"] for m in gm.messages] == [0, 1, 2, 3]
    metrics = httpx.get(lc.url + "/metrics").text
    assert "sedna_lc_outbox_full_rejections_total 2.0" in metrics
    assert "sedna_lc_gm_connects_total 2.0" in metrics


def test_config_errors_exit_with_a_clear_message(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SEDNA_", "LC_", "GM_", "BIND_"))}
    base.update(NODENAME="n", ROOTFS_MOUNT_DIR=str(tmp_path), BIND_ADDRESS="127.0.0.1")
    cases = [({"BIND_PORT": "1"}, "GM_ADDRESS is required"),
             ({"GM_ADDRESS": "127.0.0.1:1", "LC_TRIGGER_PERIOD_SECONDS": "fast"}, "LC_TRIGGER_PERIOD_SECONDS"),
             ({"GM_ADDRESS": "127.0.0.1:1", "BIND_PORT": str(busy.getsockname()[1])}, "cannot listen on")]
    for extra, text in cases:
        p = subprocess.run([sys.executable, "-m", "sedna", "lc"], env={**base, **extra}, capture_output=True,
                           text=True, timeout=60, check=False)
        assert p.returncode == 2 and text in p.stderr, p.stderr
    busy.close()
