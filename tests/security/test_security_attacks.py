"""One test per row of issue 14's table (and its "also" paragraph): the attack that worked, replayed against
real servers with the defaults, now refused with a reason."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import subprocess
import sys

import httpx
import pytest
import websockets
from security_stack import SECRET, Stack, dataset, federated, joint_inference
from support_procs import stop_process, wait_for
from websockets.asyncio.client import connect

from sedna.api.messages import Message
from sedna.common.tokens import WorkerClaims, node_token, service_token, sign_worker, worker_key
from sedna.service.server.aggregation import AggregationServer
from sedna.service.server.inference import InferenceServer
from sedna.service.server.knowledge_base.server import KBServer

pytestmark = [pytest.mark.timeout(120)]

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evil"},
       "spec": {"containers": [{"name": "c", "image": "x", "command": ["id"]}]}}


@pytest.fixture
async def stack(tmp_path):
    s = Stack(tmp_path)
    await s.start_gm()
    try:
        yield s
    finally:
        await s.stop()


async def ws_status(ws, kind, name, content, mid):
    await ws.send(Message.build(kind, "default", name, "status", content, message_id=mid).encode())
    while True:
        reply = Message.decode(await asyncio.wait_for(ws.recv(), 10))
        if reply.header.message_id == mid:
            return reply


def lc_headers(node: str) -> dict:
    return {"Node-Name": node, "Authorization": f"Bearer {node_token(SECRET, node)}"}


# ---- row: local API server ------------------------------------------------------------------------------

def test_local_api_server_refuses_requests_without_the_kubeconfig_token(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "sedna.local.apiserver", "--port", "0", "--kubeconfig",
                             str(kubeconfig)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        wait_for(kubeconfig.exists, 10, "kubeconfig")
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600           # only the local user can read it
        from sedna.local.apiserver import kubeconfig_token

        token = kubeconfig_token(kubeconfig)
        assert len(token) >= 32 and token != "sedna-local"                 # random per cluster
        pods = f"{url}/api/v1/namespaces/default/pods"
        for headers in ({}, {"Authorization": "Bearer sedna-local"}, {"Authorization": f"Basic {token}"}):
            resp = httpx.post(pods, json=POD, headers=headers)
            assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized", resp.text
        assert httpx.get(pods).status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200               # public probes stay public
        assert httpx.post(pods, json=POD, headers={"Authorization": f"Bearer {token}"}).status_code == 201
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_sedna_local_up_runs_the_api_server_with_a_token(tmp_path):
    data_dir = tmp_path / "cluster"

    def sedna(*args):
        return subprocess.run([sys.executable, "-m", "sedna", "local", "--data-dir", str(data_dir), *args],
                              capture_output=True, text=True, timeout=120, check=False)
    up = sedna("up", "--no-controllers", "--nodes", "n1", "--cluster-cidr", "127.213.0.0/16")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((data_dir / "state.json").read_text())
        resp = httpx.post(f"{state['url']}/api/v1/namespaces/default/pods", json=POD)
        assert resp.status_code == 401
        assert sedna("get", "nodes").returncode == 0                       # the CLI reads the kubeconfig token
    finally:
        sedna("down")


# ---- row: GM websocket ----------------------------------------------------------------------------------

async def test_gm_channel_refuses_missing_and_other_nodes_tokens(stack):
    for headers in ({"Node-Name": "edge-node"},
                    {"Node-Name": "edge-node", "Authorization": f"Bearer {node_token(SECRET, 'cloud-node')}"},
                    {"Node-Name": "edge-node", "Authorization": f"Bearer {SECRET}"}):
        with pytest.raises(websockets.exceptions.InvalidStatus) as err:
            async with connect(stack.ws_url, additional_headers=headers):
                pass
        assert err.value.response.status_code == 401


async def test_node_cannot_push_status_of_a_service_it_does_not_run(stack):
    stack.create(joint_inference("ji", edge="edge-node", cloud="edge-node"))
    forged = {"phase": "inference", "status": "running",
              "output": {"ownerInfo": {"inferenceNumber": 999999, "hardExampleNumber": 1}}}
    async with connect(stack.ws_url, additional_headers=lc_headers("cloud-node")) as ws:
        reply = await ws_status(ws, "jointinferenceservice", "ji", forged, "m1")
        assert reply.header.operation == "error"
        assert "may not report" in reply.content["reason"] and "edge-node" in reply.content["reason"]
    assert not (stack.get("jointinferenceservices", "ji").get("status") or {}).get("metrics")
    async with connect(stack.ws_url, additional_headers=lc_headers("edge-node")) as ws:
        assert (await ws_status(ws, "jointinferenceservice", "ji", forged, "m2")).header.operation == "ack"


async def test_s3_credentials_only_reach_the_datasets_node(stack):
    stack.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3cred", "namespace": "default"},
                  "stringData": {"ACCESS_KEY_ID": "AKIA", "SECRET_ACCESS_KEY": "very-secret"}})
    ds = stack.create(dataset("ds", "edge-node", "s3cred"))
    async with connect(stack.ws_url, additional_headers=lc_headers("cloud-node")) as other, \
            connect(stack.ws_url, additional_headers=lc_headers("edge-node")) as owner:
        await stack.gm.on_cr_event("datasets", "ADDED", ds)
        got = Message.decode(await asyncio.wait_for(owner.recv(), 10))
        assert got.header.resource_name == "ds" and "very-secret" in json.dumps(got.content)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(other.recv(), 1.0)                       # the other node gets nothing


# ---- row: LC worker API ---------------------------------------------------------------------------------

async def test_lc_worker_api_requires_the_workers_own_token(stack):
    stack.create(federated("fl", trainer_node="edge-node"))
    _, url = await asyncio.to_thread(stack.start_lc, "edge-node")
    key = worker_key(SECRET)
    body = {"name": "trainworker-1", "namespace": "default", "ownerName": "fl", "ownerKind": "federatedlearningjob",
            "kind": "train", "status": "running", "ownerInfo": {"currentRound": 1, "updateTime": "T1"}}
    post = f"{url}/sedna/workers/trainworker-1/info"
    async with httpx.AsyncClient(timeout=10) as http:
        cases = [
            ({}, 401, "missing bearer token"),
            ({"Authorization": "Bearer guess"}, 401, "wrong bearer token"),
            ({"Authorization": f"Bearer {sign_worker('other-key', WorkerClaims('federatedlearningjob', 'default', 'fl', 'trainworker-1'))}"},
             401, "not signed"),
            ({"Authorization": f"Bearer {sign_worker(key, WorkerClaims('federatedlearningjob', 'default', 'other', 'trainworker-1'))}"},
             403, "default/other"),
            ({"Authorization": f"Bearer {sign_worker(key, WorkerClaims('federatedlearningjob', 'default', 'fl', 'trainworker-2'))}"},
             403, "trainworker-2"),
        ]
        for headers, code, text in cases:
            resp = await http.post(post, json=body, headers=headers)
            assert resp.status_code == code and text in resp.json()["Message"], (headers, resp.text)
        own = sign_worker(key, WorkerClaims("federatedlearningjob", "default", "fl", "trainworker-1"))
        resp = await http.post(post, json=body, headers={"Authorization": f"Bearer {own}"})
        assert resp.status_code == 200, resp.text
    # the job's missing references make the GM follow each report with a Pending condition: look for the
    # report's own condition, not at the last one
    conds = await asyncio.to_thread(wait_for, lambda: [
        c for c in (stack.get("federatedlearningjobs", "fl").get("status") or {}).get("conditions") or []
        if c.get("type") == "Training"], 30, "the genuine report in the CR")
    assert [c["message"] for c in conds] == ["Round 1 reaches at T1"]


async def test_oversize_worker_field_is_rejected_to_the_lc_which_drops_it(stack):
    stack.create(federated("fl", trainer_node="edge-node"))
    _, url = await asyncio.to_thread(stack.start_lc, "edge-node")
    own = sign_worker(worker_key(SECRET), WorkerClaims("federatedlearningjob", "default", "fl", "w"))
    body = {"name": "w", "namespace": "default", "ownerName": "fl", "ownerKind": "federatedlearningjob",
            "kind": "train", "status": "running", "ownerInfo": {"currentRound": 1, "updateTime": "x" * 300_000}}
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {own}"}) as http:
        assert (await http.post(f"{url}/sedna/workers/w/info", json=body)).status_code == 200

        async def drained() -> bool:
            return (await http.get(f"{url}/healthz")).json()["outboxDepth"] == 0
        for _ in range(100):
            if await drained():
                break
            await asyncio.sleep(0.1)
        assert await drained()                                              # dropped, not re-sent forever
    assert "updateTime is 300000 bytes" in stack.lc_log("edge-node")       # the reason is recorded
    assert not (stack.get("federatedlearningjobs", "fl").get("status") or {}).get("conditions")


async def test_gm_channel_survives_malformed_frames(stack):
    stack.create(federated("fl", trainer_node="edge-node"))
    async with connect(stack.ws_url, additional_headers=lc_headers("edge-node")) as ws:
        for frame in (b"\xff\xfe{not utf-8", "[" * 100_000, json.dumps({"header": {}, "content": base64.b64encode(
                b"[" * 100_000).decode()})):
            await ws.send(frame)
            reply = Message.decode(await asyncio.wait_for(ws.recv(), 10))
            assert reply.header.operation == "error" and reply.content["reason"]
        deep = {"a": 1}
        for _ in range(100):
            deep = {"a": deep}
        reply = await ws_status(ws, "federatedlearningjob", "fl", deep, "deep")   # answered with its id
        assert reply.header.operation == "error" and "deep" in reply.content["reason"]
        ok = {"output": {"ownerInfo": {"currentRound": 1, "updateTime": "T"}}}
        assert (await ws_status(ws, "federatedlearningjob", "fl", ok, "fine")).header.operation == "ack"


# ---- row: aggregation server ----------------------------------------------------------------------------

def test_aggregation_server_needs_the_job_token_and_keeps_the_first_client(tmp_path):
    from websockets.sync.client import connect as sync_connect

    token = service_token(SECRET, "federatedlearningjob", "default", "fl")
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, token=token, job_name="fl",
                               checkpoint_path=str(tmp_path / "ckpt.safetensors"), exit_grace=0.5)
    server.start_background()
    url = f"ws://127.0.0.1:{server.port}/FedAvg"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        assert httpx.get(f"http://127.0.0.1:{server.port}/FedAvg").status_code == 401     # no client list
        with pytest.raises(websockets.exceptions.InvalidStatus) as err:
            sync_connect(url, additional_headers={"Authorization": "Bearer guess"})
        assert err.value.response.status_code == 401
        first = sync_connect(url, additional_headers=auth, max_size=None)
        first.send(json.dumps({"type": "subscribe", "client_id": "trainer-a"}))
        json.loads(first.recv(timeout=10))
        second = sync_connect(url, additional_headers=auth, max_size=None)
        second.send(json.dumps({"type": "subscribe", "client_id": "trainer-a"}))
        assert "already connected" in second.recv(timeout=10)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            second.recv(timeout=10)
        assert closed.value.rcvd.code == 4009
        first.ping().wait(5)                                                # the first one was not kicked
        assert list(server.clients) == ["trainer-a"] and server.clients["trainer-a"].ws is not None
        first.close()
    finally:
        server.stop()


# ---- rows: KB server, inference server --------------------------------------------------------------------

def test_kb_server_refuses_writes_without_its_token(tmp_path):
    server = KBServer("127.0.0.1", http_port=0, save_dir=str(tmp_path / "kb"), token="kb-token").start_background()
    base = f"http://127.0.0.1:{server.port}/knowledgebase"
    try:
        files = {"file": ("model.bin", b"overwritten")}
        assert httpx.post(f"{base}/file/upload", files=files).status_code == 401
        index = {"task": ("index.json", json.dumps({"extractor": "http://evil/x"}).encode())}
        assert httpx.post(f"{base}/update", files=index).status_code == 401
        assert not (tmp_path / "kb" / "model.bin").exists()
        ok = httpx.post(f"{base}/file/upload", files=files, headers={"Authorization": "Bearer kb-token"})
        assert ok.status_code == 200 and (tmp_path / "kb" / "model.bin").read_bytes() == b"overwritten"
    finally:
        server.stop()


def test_inference_server_refuses_requests_without_its_token_and_deep_json():
    class Echo:
        def inference(self, data, post_process=None):
            return data

    server = InferenceServer(Echo(), "m", host="127.0.0.1", http_port=0, token="inf-token").start_background()
    url = f"http://127.0.0.1:{server.port}/m/predict"
    try:
        assert httpx.post(url, json={"data": [1]}).status_code == 401
        auth = {"Authorization": "Bearer inf-token"}
        deep = httpx.post(url, content=b"[" * 100_000, headers={**auth, "content-type": "application/json"})
        assert deep.status_code == 400 and "deep" in deep.json()["detail"]
        assert httpx.post(url, json={"data": [1]}, headers=auth).json() == {"result": [1]}
    finally:
        server.stop()


async def test_lc_worker_api_answers_deep_json_with_400(stack):
    _, url = await asyncio.to_thread(stack.start_lc, "edge-node", LC_API_TOKEN="static")
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(f"{url}/sedna/workers/w/info", content=b"[" * 100_000,
                               headers={"content-type": "application/json", "Authorization": "Bearer static"})
    assert resp.status_code == 400 and "deep" in resp.json()["Message"]
