"""Aggregation server and client over real websockets on 127.0.0.1 (server in a thread, clients as
subprocesses or raw websocket connections)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from support_fl import make_server, url_of
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from sedna.algorithms.compression import TopKCodec
from sedna.algorithms.transmitter.wire import decode_control, decode_weights, encode_weights
from sedna.common.tensors import list_to_arrays, loads_arrays
from sedna.service.client import AggregationClient
from sedna.service.client.aggregation import AggregationError
from sedna.service.server import AggregationServer

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLIENT_SCRIPT = HERE / "fl_client_proc.py"
# subprocesses import sedna from this checkout even when it is not installed
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_client(url, client_id, rounds, samples, value, compression="none", env=None):
    return subprocess.Popen([sys.executable, str(CLIENT_SCRIPT), url, client_id, str(rounds), str(samples),
                             str(value), compression], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**CHILD_ENV, **(env or {})})


def events(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def raw_subscribe(url, client_id, **kw):
    ws = connect(url, compression=None, proxy=None, max_size=None, **kw)
    ws.send(json.dumps({"type": "subscribe", "client_id": client_id}))
    frames = []
    while True:
        frame = ws.recv(timeout=10)
        frames.append(frame)
        if isinstance(frame, str) and json.loads(frame).get("client_id") == client_id:
            return ws, frames


def update_frame(round_, samples, layers, client="x"):
    return encode_weights("update_weight", list_to_arrays(layers),
                          {"client": client, "job_name": "t", "round": round_, "num_samples": samples})


def recv_until(ws, predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(frame, str):
            msg = decode_control(frame)
        else:
            w = decode_weights(frame)
            msg = {**w.meta, "arrays": w.arrays}
        if predicate(msg):
            return msg


def test_two_client_processes_run_three_rounds_of_fedavg(tmp_path):
    server = make_server(tmp_path, exit_round=3, participants_count=2)
    thread = server.start_background()
    a = spawn_client(url_of(server), "a", 5, 10, 1.0)
    b = spawn_client(url_of(server), "b", 5, 30, 3.0, compression="fp16")
    ea, eb = events(a), events(b)
    rounds_a = [e for e in ea if e["event"] == "round"]
    assert [e["round"] for e in rounds_a] == [1, 2, 3]
    assert [e["exit_flag"] for e in rounds_a] == ["continue", "continue", "ok"]
    # round r: a sends 1+r, b sends 3+r, weights 10:30 → 2.5 + r
    assert [e["w0"][0][0] for e in rounds_a] == pytest.approx([2.5, 3.5, 4.5])
    assert rounds_a == [e for e in eb if e["event"] == "round"]
    assert rounds_a[0]["participants"] == ["a", "b"] and rounds_a[0]["total_sample"] == 40
    thread.join(15)
    assert not thread.is_alive(), "server must exit after the last round once clients are gone"
    arrays, meta = loads_arrays((tmp_path / "global.safetensors").read_bytes())
    assert meta["round"] == 3 and arrays["0000"][0][0] == pytest.approx(4.5)


def test_dropout_mid_round_completes_after_timeout_with_the_others(tmp_path):
    server = make_server(tmp_path, exit_round=1, participants_count=3, round_timeout=1.0, min_participants=2)
    thread = server.start_background()
    dropper, _ = raw_subscribe(url_of(server), "c")
    a = spawn_client(url_of(server), "a", 1, 10, 1.0)
    b = spawn_client(url_of(server), "b", 1, 10, 3.0)
    time.sleep(0.5)
    dropper.close()  # c leaves without sending its update
    ea = events(a)
    last = [e for e in ea if e["event"] == "round"][-1]
    assert last["round"] == 1 and last["participants"] == ["a", "b"] and last["dropped"] == ["c"]
    assert last["w0"][0][0] == pytest.approx(2.0)
    events(b)
    assert any(e["event"] == "disconnect" and e["client"] == "c" and not e["sent_update"] for e in server.events)
    thread.join(10)


def test_round_waits_for_quorum_even_after_timeout(tmp_path):
    server = make_server(tmp_path, exit_round=1, participants_count=3, round_timeout=0.3, min_participants=2)
    server.start_background()
    ws, _ = raw_subscribe(url_of(server), "a")
    ws.send(update_frame(1, 5, [np.ones(2, np.float32)]))
    time.sleep(1.0)
    assert server.round == 0, "one update is below the quorum of two"
    ws2, _ = raw_subscribe(url_of(server), "b")
    ws2.send(update_frame(1, 5, [np.full(2, 3.0, np.float32)]))
    msg = recv_until(ws, lambda m: m["type"] == "recv_weight")
    assert msg["round_number"] == 1 and msg["arrays"]["0000"].tolist() == [2.0, 2.0]
    ws.close()
    ws2.close()
    server.stop()


def test_late_joiner_gets_current_global_model(tmp_path):
    server = make_server(tmp_path, exit_round=3, participants_count=1)
    server.start_background()
    early = AggregationClient(url_of(server), "early", connect_timeout=10)
    early.exchange([np.full(3, 4.0, np.float32)], 7, timeout=10)
    late = AggregationClient(url_of(server), "late", connect_timeout=10)
    assert late.global_round == 1
    assert late.global_weights["0000"].tolist() == [4.0, 4.0, 4.0]
    # the late joiner's first update is for round 2, based on the global model it was given
    result = late.exchange([np.full(3, 6.0, np.float32)], 1, timeout=10)
    assert result["round_number"] == 2 and result["data"]["weights"][0].tolist() == [6.0, 6.0, 6.0]
    early.close()
    late.close()
    server.stop()


def test_server_restart_resumes_from_checkpoint_and_clients_reconnect(tmp_path):
    port = free_port()
    first = make_server(tmp_path, port=port, exit_round=3, participants_count=2)
    first_thread = first.start_background()
    url = f"ws://127.0.0.1:{port}/FedAvg"
    a = spawn_client(url, "a", 3, 10, 1.0)
    b_early = AggregationClient(url, "b", connect_timeout=10)
    b_early.exchange([np.full((2, 3), 3.0, np.float32), np.array([3.0], np.float32)], 30, timeout=20)
    # round 1 is done; a's round-2 update is now waiting on the server — kill the server
    deadline = time.monotonic() + 10
    while "a" not in first._contributors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "a" in first._contributors
    first.stop()
    first_thread.join(10)
    b_early.close()
    second = make_server(tmp_path, port=port, exit_round=3, participants_count=2)
    assert second.round == 1, "restored from the checkpoint of round 1"
    second.start_background()
    b = spawn_client(url, "b", 3, 30, 3.0)
    ea, eb = events(a), events(b)
    assert [e["global_round"] for e in eb if e["event"] == "subscribed"] == [1]
    rounds_a = [e for e in ea if e["event"] == "round"]
    # a resent its round-2 update after reconnecting; round 2: (10*(1+1) + 30*3)/40 = 2.75
    assert [e["round"] for e in rounds_a] == [1, 2, 3]
    assert rounds_a[1]["w0"][0][0] == pytest.approx(2.75)
    assert rounds_a[-1]["exit_flag"] == "ok"


def test_duplicate_and_stale_updates_are_ignored(tmp_path):
    server = make_server(tmp_path, exit_round=5, participants_count=2)
    server.start_background()
    ws, _ = raw_subscribe(url_of(server), "a")
    frame = update_frame(1, 10, [np.ones(2, np.float32)])
    ws.send(frame)
    ws.send(frame)
    msg = recv_until(ws, lambda m: m["type"] == "ignored")
    assert msg["data"]["reason"] == "duplicate update"
    ws_b, _ = raw_subscribe(url_of(server), "b")
    ws_b.send(update_frame(1, 10, [np.full(2, 3.0, np.float32)]))
    assert recv_until(ws, lambda m: m["type"] == "recv_weight")["arrays"]["0000"].tolist() == [2.0, 2.0]
    # a's duplicate did not count twice: (1*10 + 3*10) / 20
    ws.send(update_frame(1, 10, [np.full(2, 99.0, np.float32)]))  # round 1 is closed: stale
    msg = recv_until(ws, lambda m: m["type"] == "recv_weight")
    assert msg["round_number"] == 1 and msg["arrays"]["0000"].tolist() == [2.0, 2.0]
    assert server.round == 1 and not server._contributors
    assert {e["event"] for e in server.events} >= {"duplicate", "stale"}
    ws.send(update_frame(7, 10, [np.ones(2, np.float32)]))
    assert "next round is 2" in recv_until(ws, lambda m: m["type"] == "error")["data"]["error"]
    ws.close()
    ws_b.close()
    server.stop()


def test_malformed_frames_get_an_error_and_the_connection_stays(tmp_path):
    server = make_server(tmp_path, exit_round=5, participants_count=1, ws_size=64 * 1024)
    server.start_background()
    ws, _ = raw_subscribe(url_of(server), "a")
    ws.send(update_frame(1, 1, [np.ones((2, 2), np.float32)]))
    recv_until(ws, lambda m: m["type"] == "recv_weight")

    def error_for(frame):
        ws.send(frame)
        return recv_until(ws, lambda m: m["type"] == "error")["data"]["error"]

    assert "does not match the global model" in error_for(update_frame(2, 1, [np.ones((3, 2), np.float32)]))
    assert "float64" in error_for(update_frame(2, 1, [np.ones((2, 2), np.float64)]))
    assert "not a safetensors payload" in error_for(b"\x00garbage" * 10)
    # a payload whose tensor differs from what the JSON header declares
    lying = update_frame(2, 1, [np.ones((2, 2), np.float32)])
    lying = lying.replace(b'"shape":[2,2]', b'"shape":[4,1]')  # the safetensors entry, not the JSON header
    assert "got float32[4, 1], header says float32[2, 2]" in error_for(lying)
    assert "binary frame" in error_for(json.dumps({"type": "update_weight", "data": {"weights": [[1]]}}))
    assert "not JSON" in error_for("{nope")
    # still usable after all that
    ws.send(update_frame(2, 1, [np.full((2, 2), 5.0, np.float32)]))
    assert recv_until(ws, lambda m: m["type"] == "recv_weight")["round_number"] == 2
    # oversize: the frame is refused by closing with 1009, other clients are unaffected
    other, _ = raw_subscribe(url_of(server), "b")
    ws.send(update_frame(3, 1, [np.zeros(100_000, np.float32)]))
    with pytest.raises(ConnectionClosed) as closed:
        while True:  # CLIENT_JOIN for b may come first
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1009
    other.send(update_frame(3, 1, [np.full((2, 2), 1.0, np.float32)]))
    assert recv_until(other, lambda m: m["type"] == "recv_weight")["round_number"] == 3
    other.close()
    server.stop()


def test_other_text_frames_are_broadcast_and_joins_announced(tmp_path):
    server = make_server(tmp_path, exit_round=1)
    server.start_background()
    a, _ = raw_subscribe(url_of(server), "a")
    b, _ = raw_subscribe(url_of(server), "b")
    assert recv_until(a, lambda m: m["type"] == "CLIENT_JOIN")["data"] == "b"
    b.send(json.dumps({"type": "message", "client": "b", "data": {"hello": 1}, "job_name": "t"}))
    assert recv_until(a, lambda m: m["type"] == "message")["data"] == {"hello": 1}
    assert recv_until(b, lambda m: m["type"] == "message")["data"] == {"hello": 1}
    info = httpx.get(f"http://127.0.0.1:{server.port}/FedAvg").json()
    assert info["clients"] == ["a", "b"]
    one = httpx.get(f"http://127.0.0.1:{server.port}/FedAvg", params={"client_id": "a"}).json()
    assert one["client_id"] == "a" and one["connected_at"] > 0
    assert httpx.get(f"http://127.0.0.1:{server.port}/nope").status_code == 404
    a.close()
    b.close()
    server.stop()


def test_bearer_token_required_when_configured(tmp_path):
    server = make_server(tmp_path, exit_round=1, token="s3cret")
    server.start_background()
    with pytest.raises(AggregationError, match="401"):
        AggregationClient(url_of(server), "a", connect_timeout=5, token="wrong")
    with pytest.raises(AggregationError, match="401"):
        AggregationClient(url_of(server), "a", connect_timeout=5, token="")
    assert httpx.get(f"http://127.0.0.1:{server.port}/FedAvg").status_code == 401
    client = AggregationClient(url_of(server), "a", connect_timeout=5, token="s3cret")
    result = client.exchange([np.ones(2, np.float32)], 1, timeout=10)
    assert result["data"]["exit_flag"] == "ok"
    client.close()
    server.stop()


def test_topk_updates_are_rebuilt_against_the_global_model(tmp_path):
    server = make_server(tmp_path, exit_round=2, participants_count=1)
    server.start_background()
    client = AggregationClient(url_of(server), "a", connect_timeout=10, compression=TopKCodec(ratio=0.02))
    first = client.exchange([np.zeros(100, np.float32)], 1, timeout=10)  # no base yet: dense
    assert first["round_number"] == 1
    local = np.zeros(100, np.float32)
    local[[3, 50]] = [5.0, -7.0]
    local[10] = 0.001
    second = client.exchange([local], 1, timeout=10)
    got = second["data"]["weights"][0]
    assert got[3] == 5.0 and got[50] == -7.0 and got[10] == 0.0  # 2 % of 100 entries: the two largest
    client.close()
    server.stop()


def test_large_updates_travel_fragmented_and_the_limit_covers_the_whole_message(tmp_path):
    server = make_server(tmp_path, exit_round=2, participants_count=2, ws_size=8 * 1024 * 1024)
    server.start_background()
    big = np.arange(1_000_000, dtype=np.float32)  # 4 MB: four 1 MiB fragments
    a = AggregationClient(url_of(server), "a", connect_timeout=10)
    b_raw, _ = raw_subscribe(url_of(server), "b")
    b_raw.send(update_frame(1, 1, [big * 3]))
    result = a.exchange([big], 1, timeout=20)
    assert result["data"]["weights"][0][10] == pytest.approx(20.0)  # (10*1 + 30*1) / 2
    # 12 MB in 1 MiB fragments: each fragment is small, the message is not → closed with 1009
    with pytest.raises(AggregationError, match="1009"):
        a.exchange([np.zeros(3_000_000, np.float32)], 1, timeout=20)
    deadline = time.monotonic() + 10
    while not any(e["event"] == "disconnect" and e["client"] == "a" for e in server.events):
        assert time.monotonic() < deadline, "server must drop the connection that sent the oversize message"
        time.sleep(0.05)
    b_raw.close()
    server.stop()


def test_custom_registered_strategy_is_used_by_the_server(tmp_path):
    from sedna.algorithms.aggregation import BaseAggregation
    from sedna.common.class_factory import ClassFactory, ClassType

    @ClassFactory.register(ClassType.FL_AGG, alias="TestMedian")
    class Median(BaseAggregation):
        def aggregate(self, clients):
            clients = list(clients)
            self.total_size = sum(c.num_samples for c in clients)
            return [np.median(np.stack([c.weights[i] for c in clients]), axis=0)
                    for i in range(len(clients[0].weights))]

    server = AggregationServer("TestMedian", host="127.0.0.1", http_port=0, exit_round=1, participants_count=3,
                               checkpoint_path=str(tmp_path / "m.safetensors"), job_name="t", exit_grace=0.5)
    server.start_background()
    url = f"ws://127.0.0.1:{server.port}/TestMedian"
    conns = [raw_subscribe(url, cid)[0] for cid in ("a", "b", "c")]
    for ws, value in zip(conns, (1.0, 2.0, 100.0)):
        ws.send(update_frame(1, 1, [np.full(2, value, np.float32)]))
    msg = recv_until(conns[0], lambda m: m["type"] == "recv_weight")
    assert msg["arrays"]["0000"].tolist() == [2.0, 2.0]  # the median, not FedAvg's 34.33
    for ws in conns:
        ws.close()
    server.stop()


def test_upstream_send_recv_calls_keep_their_shapes(tmp_path):
    server = make_server(tmp_path, exit_round=1, participants_count=1)
    server.start_background()
    client = AggregationClient(url_of(server), "w1", connect_timeout=10, job_name="t")
    client.send({"hello": "all"}, msg_type="message", job_name="t")
    msg = None
    while msg is None:
        msg = client.recv(wait_data_type="message")
    assert msg == {"type": "message", "client": "w1", "data": {"hello": "all"}, "job_name": "t"}
    client.send({"num_samples": 3, "weights": [[1.0, 2.0], [[3.0]]]}, msg_type="update_weight", job_name="t")
    got = None
    while got is None:
        got = client.recv(wait_data_type="recv_weight")
    assert got["type"] == "recv_weight" and got["round_number"] == 1 and got["job_name"] == "t"
    data = got["data"]
    assert data["total_sample"] == 3 and data["exit_flag"] == "ok" and data["round_number"] == 1
    assert [w.tolist() for w in data["weights"]] == [[1.0, 2.0], [[3.0]]]
    client.close()
    server.stop()


def test_killed_client_process_is_dropped_and_token_comes_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("AGG_TOKEN", "from-env")
    server = make_server(tmp_path, exit_round=1, participants_count=3, round_timeout=1.0, min_participants=2)
    assert server.token == "from-env"
    server.start_background()
    no_token = spawn_client(url_of(server), "c", 1, 1, 1.0, env={"AGG_TOKEN": ""})
    _, err = no_token.communicate(timeout=30)
    assert no_token.returncode != 0 and "HTTP 401" in err
    idle = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from sedna.service.client import AggregationClient\n"
        "AggregationClient(sys.argv[1], 'idle', connect_timeout=10)\n"
        "print('subscribed', flush=True)\n"
        "time.sleep(120)\n"), url_of(server)], stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**CHILD_ENV, "AGG_TOKEN": "from-env"})
    assert idle.stdout.readline().strip() == "subscribed"
    a = spawn_client(url_of(server), "a", 1, 10, 1.0, env={"AGG_TOKEN": "from-env"})
    b = spawn_client(url_of(server), "b", 1, 30, 3.0, env={"AGG_TOKEN": "from-env"})
    idle.kill()  # SIGKILL: no close frame, the socket just dies
    idle.wait(10)
    last = [e for e in events(a) if e["event"] == "round"][-1]
    assert last["participants"] == ["a", "b"] and last["dropped"] == ["idle"]
    assert last["w0"][0][0] == pytest.approx(2.5)
    events(b)
    assert any(e["event"] == "disconnect" and e["client"] == "idle" for e in server.events)
    server.stop()


def test_busy_client_keeps_its_connection_while_a_large_global_model_arrives(tmp_path):
    server = make_server(tmp_path, exit_round=2, participants_count=2, round_timeout=0.3, min_participants=1,
                         ws_size=64 * 1024 * 1024)
    server.start_background()
    big = np.ones(8_000_000, np.float32)  # 32 MB global model: 32 fragments, more than a default queue of 16
    fast = AggregationClient(url_of(server), "fast", connect_timeout=10)
    slow = AggregationClient(url_of(server), "slow", connect_timeout=10, ping_interval=0.5, ping_timeout=1.0)
    connection = slow.ws
    fast.exchange([big], 1, timeout=20)  # the round closes by timeout without "slow"
    time.sleep(3.0)  # "slow" is training: nobody reads its socket, keepalive must still work
    result = slow.exchange([big * 5], 1, timeout=20)  # its round-1 update is stale now
    assert slow.ws is connection, "the connection must not have been dropped and re-established"
    assert result["round_number"] == 1 and result["data"]["weights"][0][0] == 1.0
    assert result["dropped"] == ["slow"]
    fast.close()
    slow.close()
    server.stop()


def test_checkpoint_is_atomic_and_foreign_or_broken_checkpoints_are_ignored(tmp_path, caplog):
    from sedna.service.server.aggregation import load_checkpoint, save_checkpoint

    path = tmp_path / "ck" / "g.safetensors"
    save_checkpoint(str(path), {"0000": np.ones(3, np.float32)}, {"round": 2, "job_name": "t",
                                                                  "aggregation": "FedAvg", "total_sample": 9})
    assert [p.name for p in path.parent.iterdir()] == ["g.safetensors"], "no temp file left behind"
    arrays, meta = load_checkpoint(str(path))
    assert meta["round"] == 2 and arrays["0000"].tolist() == [1.0, 1.0, 1.0]
    resumed = make_server(tmp_path, checkpoint_path=str(path), exit_round=5)
    assert resumed.round == 2 and resumed.total_sample == 9
    other_job = make_server(tmp_path, checkpoint_path=str(path), exit_round=5, job_name="another")
    assert other_job.round == 0 and other_job.global_arrays is None
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{truncated")
    broken = make_server(tmp_path, checkpoint_path=str(path), exit_round=5)
    assert broken.round == 0 and "unreadable checkpoint" in caplog.text


def _run_job(job_name, uid, rounds, value, samples):
    """One whole job on a fresh server with the default checkpoint location; returns the server."""
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=rounds, job_name=job_name,
                               job_uid=uid, exit_grace=0.5)
    thread = server.start_background()
    client = AggregationClient(url_of(server), "c", connect_timeout=10)
    for _ in range(rounds):
        result = client.exchange([np.full(3, value, np.float32)], samples, timeout=20)
    client.close()
    thread.join(20)
    assert result["round_number"] == rounds
    return server


@pytest.mark.parametrize("second_uid", ["uid-2", ""])
def test_new_job_with_the_same_name_starts_at_round_zero(tmp_path, monkeypatch, second_uid):
    """Issue 16's trap: a job's checkpoint must never be resumed by another job that reuses its name (nor by a
    run that has no job UID to prove it is the same job)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGG_CHECKPOINT", raising=False)
    monkeypatch.delenv("AGG_CHECKPOINT_DIR", raising=False)
    first = _run_job("same", "uid-1" if second_uid else "", rounds=3, value=1.0, samples=70)
    assert Path(first.checkpoint_path).is_file() and first.checkpoint_path.startswith(".")
    again = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=1, job_name="same",
                              job_uid=second_uid)
    assert again.round == 0 and again.global_arrays is None and again.total_sample == 0
    second = _run_job("same", second_uid, rounds=1, value=5.0, samples=8)
    assert second.total_sample == 8 and second.global_arrays["0000"].tolist() == [5.0, 5.0, 5.0]


def test_same_job_uid_resumes_its_checkpoint_from_its_own_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("AGG_CHECKPOINT_DIR", str(tmp_path / "work"))
    monkeypatch.delenv("AGG_CHECKPOINT", raising=False)
    first = _run_job("job", "uid-1", rounds=2, value=2.0, samples=5)
    assert first.checkpoint_path == str(tmp_path / "work" / "job-uid-1" / "global.safetensors")
    restarted = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=3, job_name="job",
                                  job_uid="uid-1")
    assert restarted.round == 2 and restarted.total_sample == 5
    assert restarted.global_arrays["0000"].tolist() == [2.0, 2.0, 2.0]


def test_large_updates_through_reused_receive_buffers_aggregate_exactly(tmp_path):
    """Multi-fragment updates are copied into reused receive buffers and added as views of them: rounds
    after the first reuse buffers, and every round's mean must still be exact."""
    import threading

    server = make_server(tmp_path, exit_round=3, participants_count=3)
    server.start_background()
    size = 3 * 1024 * 1024 // 4 + 7                       # > 1 MiB fragments, not a multiple of them
    results: dict[str, list] = {}

    def run(cid: str, value: float, samples: int) -> None:
        client = AggregationClient(url_of(server), cid, connect_timeout=10)
        got = []
        for r in range(3):
            weights = [np.full(size, value + r, np.float32), np.arange(5, dtype=np.float32) * value]
            got.append(client.exchange(weights, samples, timeout=60)["data"]["weights"])
        client.close()
        results[cid] = got

    threads = [threading.Thread(target=run, args=(f"c{i}", float(i + 1), 10 * (i + 1))) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert sorted(results) == ["c0", "c1", "c2"]
    for r in range(3):
        expected0 = (10 * (1 + r) + 20 * (2 + r) + 30 * (3 + r)) / 60
        expected1 = np.arange(5, dtype=np.float64) * (10 * 1 + 20 * 2 + 30 * 3) / 60
        for cid in results:
            w0, w1 = results[cid][r]
            assert w0.shape == (size,) and np.allclose(w0, expected0, rtol=1e-6)
            assert np.allclose(w1, expected1, rtol=1e-6)
    server.stop()


def test_view_loader_matches_the_copying_loader_and_rejects_bad_offsets():
    from sedna.common.tensors import TensorFormatError, dumps_arrays, loads_arrays

    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, 2], np.int64),
              "c": np.ones(5, np.float16), "empty": np.zeros((0, 3), np.float32)}
    data = dumps_arrays(arrays, {"k": 1})
    views, meta = loads_arrays(bytearray(data), copy=False)
    copies, _ = loads_arrays(data)
    assert meta == {"k": 1}
    for name, arr in arrays.items():
        assert views[name].dtype == arr.dtype and views[name].shape == arr.shape
        assert np.array_equal(views[name], copies[name])
    for broken in (data[:-3], data[:5], b"\xff" * 8 + data[8:]):
        with pytest.raises(TensorFormatError):
            loads_arrays(bytearray(broken), copy=False)
