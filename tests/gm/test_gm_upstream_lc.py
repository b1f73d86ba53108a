"""An upstream (Go) LC against our GM: no token, no message ids, upstream's frames — admitted only for the nodes
named in the GM's compatibility list, while every other node still needs its token."""

import asyncio
import base64
import json
import sys
from pathlib import Path

import pytest
import websockets
import yaml
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).parent))
from gm_cluster import GMProcess, cluster_fixture, wait_for  # noqa: F401 - the fixture

pytestmark = [pytest.mark.timeout(180)]
TOKEN = "fleet-t0ken"
OLD_NODE = "old-edge"


@pytest.fixture(scope="module")
def gm(tmp_path_factory, cluster):
    proc = GMProcess(tmp_path_factory.mktemp("gm"), cluster, token=TOKEN,
                     extra={"logFormat": "text"})
    cfg = yaml.safe_load(proc.config.read_text())
    cfg.setdefault("auth", {})["insecureNodes"] = [OLD_NODE]
    proc.config.write_text(yaml.safe_dump(cfg))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def upstream_frame(kind: str, name: str, operation: str, content: dict) -> str:
    """A frame exactly as upstream's LC writes it: no messageId, content base64 of the JSON document."""
    return json.dumps({"header": {"namespace": "default", "resourceKind": kind, "resourceName": name,
                                  "operation": operation},
                       "content": base64.b64encode(json.dumps(content).encode()).decode()})


async def next_frame(ws, pred, timeout=45.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - loop.time())))
        if pred(frame):
            return frame


async def test_upstream_lc_on_a_compat_node_reports_and_receives(cluster, gm):
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": "old-ds", "namespace": "default"},
                    "spec": {"url": "/data/old/train.txt", "format": "txt", "nodeName": OLD_NODE}})
    async with connect(gm.ws_url, additional_headers={"Node-Name": OLD_NODE}) as ws:
        assert ws.response.headers.get("Sedna-Capabilities") == "ack"   # ignored by upstream's LC
        # upstream's opening frame: a bare header object, not wrapped
        await ws.send(json.dumps({"namespace": "", "resourceKind": "", "resourceName": "", "operation": ""}))
        insert = await next_frame(ws, lambda f: f["header"]["resourceKind"] == "dataset"
                                  and f["header"]["resourceName"] == "old-ds")
        assert insert["header"]["operation"] == "insert"
        doc = json.loads(base64.b64decode(insert["content"]))
        assert doc["kind"] == "Dataset" and doc["spec"]["nodeName"] == OLD_NODE

        await ws.send(upstream_frame("Dataset", "old-ds", "status", {"numberOfSamples": 42}))
        st = wait_for(lambda: (cluster.get("Dataset", "old-ds").get("status") or {}).get("numberOfSamples") == 42
                      and cluster.get("Dataset", "old-ds")["status"], what="Dataset status from the upstream LC")
        assert st["numberOfSamples"] == 42
        metrics = await asyncio.to_thread(gm.metrics)
        assert "sedna_gm_upstream_lc_connections 1.0" in metrics
        # no id, so no ack is owed; the link stays up
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 1.0)
    assert "upstream-LC compatibility mode" in gm.log()


async def test_other_nodes_still_need_their_token(gm):
    with pytest.raises(websockets.exceptions.InvalidStatus) as err:
        async with connect(gm.ws_url, additional_headers={"Node-Name": "new-edge"}):
            pass
    assert err.value.response.status_code == 401
    # a compat node that does present a token must present the right one
    with pytest.raises(websockets.exceptions.InvalidStatus) as err:
        async with connect(gm.ws_url, additional_headers={"Node-Name": OLD_NODE,
                                                          "Authorization": "Bearer wrong"}):
            pass
    assert err.value.response.status_code == 401
    async with connect(gm.ws_url, additional_headers={"Node-Name": "new-edge",
                                                      "Authorization": f"Bearer {TOKEN}"}) as ws:
        assert ws.response.headers.get("Sedna-Capabilities") == "ack"
