"""Fuzzing: schemathesis against the OpenAPI document each FastAPI app publishes (LC worker API, inference server,
KB server; real servers on 127.0.0.1), valid and invalid inputs, no 5xx allowed; hypothesis against every wire
decoder, which may fail only with its own error type. Example counts keep the whole module near a minute."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from support_procs import free_port, stop_process, wait_for

from sedna.algorithms.transmitter.wire import WireError, decode_control
from sedna.api.messages import Message, MessageError
from sedna.common import jsonbounds
from sedna.common.tensors import TensorFormatError, dumps_arrays, loads_arrays
from sedna.common.tokens import TokenError, verify_worker
from sedna.core.multi_edge_inference.codec import CodecError, decode
from sedna.service.server.inference import InferenceServer, npy_view
from sedna.service.server.knowledge_base.server import BadRequest, KBServer, locate_part

pytestmark = [pytest.mark.timeout(300)]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = int(os.environ.get("SEDNA_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
DECODER = settings(max_examples=4 * EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                   database=None)


def fuzz_api(base: str, auth: dict[str, str]) -> dict[str, set[int]]:
    """Every operation of the server's published OpenAPI, positive and negative cases; 5xx fails."""
    schema = schemathesis.openapi.from_url(base + "/openapi.json", headers=auth)
    seen: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        codes = seen.setdefault(f"{op.method.upper()} {op.path}", set())
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @given(case=op.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case, codes=codes):
                response = case.call(base_url=base, headers=auth, timeout=30)
                codes.add(response.status_code)
                assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
            try:
                run()
            except Unsatisfiable:
                continue          # nothing invalid to generate (e.g. a GET without parameters)
    return seen


def test_fuzz_inference_server():
    class Model:
        def inference(self, data, post_process=None):
            return np.asarray(data, dtype=float).sum().item() if data else 0

    server = InferenceServer(Model(), "m", host="127.0.0.1", http_port=0, token="t").start_background()
    try:
        seen = fuzz_api(f"http://127.0.0.1:{server.port}", {"Authorization": "Bearer t"})
    finally:
        server.stop()
    assert {"GET /m", "POST /m/predict"} <= set(seen)


def test_fuzz_kb_server(tmp_path):
    server = KBServer("127.0.0.1", http_port=0, save_dir=str(tmp_path / "kb"), token="t").start_background()
    try:
        seen = fuzz_api(f"http://127.0.0.1:{server.port}", {"Authorization": "Bearer t"})
    finally:
        server.stop()
    assert "POST /knowledgebase/file/upload" in seen and "POST /knowledgebase/update" in seen


def test_fuzz_lc_worker_api(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEDNA_", "LC_"))}
    env.update(GM_ADDRESS=f"127.0.0.1:{free_port()}", NODENAME="n", BIND_ADDRESS="127.0.0.1", BIND_PORT=str(port),
               ROOTFS_MOUNT_DIR=str(tmp_path), LC_API_TOKEN="t", LC_LOG_FORMAT="text")
    with open(tmp_path / "lc.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sedna", "lc"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base + "/healthz"), 30, "LC worker API")
        seen = fuzz_api(base, {"Authorization": "Bearer t"})
        assert proc.poll() is None, (tmp_path / "lc.log").read_text()
    finally:
        stop_process(proc)
    assert "POST /sedna/workers/{worker_name}/info" in seen


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# ---- decoders: only their own error type ------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=20)
nasty_bytes = st.one_of(st.binary(max_size=300), st.sampled_from([b"[" * 5000, b"{\"a\":" * 3000, b"\xff\xfe",
                                                                 b"\"\\ud800\"", b"1e999999", b"NaN"]))


@DECODER
@given(data=nasty_bytes)
def test_message_decode_raises_only_message_error(data):
    for frame in (data, data.decode("latin-1"),
                  json.dumps({"header": {"operation": "status"}, "content": base64.b64encode(data).decode()})):
        try:
            Message.decode(frame)
        except MessageError:
            pass


@DECODER
@given(doc=json_values)
def test_message_roundtrip_of_any_json_content(doc):
    msg = Message.build("Dataset", "ns", "n", "status", doc, message_id="m")
    assert Message.decode(msg.encode()).content == doc


@DECODER
@given(data=nasty_bytes)
def test_bounded_json_raises_only_its_error(data):
    try:
        jsonbounds.loads(data)
    except jsonbounds.JSONBoundsError:
        pass


@DECODER
@given(data=nasty_bytes, fmt=st.sampled_from(["json", "msgpack"]))
def test_multi_edge_codec_raises_only_codec_error(data, fmt):
    try:
        decode(data, fmt)
    except CodecError:
        pass


@DECODER
@given(dtype=st.text(max_size=12), shape=st.lists(st.integers(-2, 4), max_size=3))
def test_multi_edge_json_arrays_with_any_dtype(dtype, shape):
    payload = json.dumps({"__ndarray__": {"dtype": dtype, "shape": shape, "data": [1, 2]}}).encode()
    try:
        decode(payload, "json")
    except CodecError:
        pass


@DECODER
@given(data=nasty_bytes)
def test_aggregation_control_frames_raise_only_wire_error(data):
    for frame in (data, data.decode("latin-1")):
        try:
            decode_control(frame)
        except WireError:
            pass


@DECODER
@given(data=st.binary(max_size=400))
def test_safetensors_and_npy_bodies_raise_only_tensor_errors(data):
    valid = dumps_arrays({"w": np.arange(4, dtype=np.float32)})
    for blob in (data, valid[:len(data) % len(valid)] + data):
        try:
            loads_arrays(blob)
        except TensorFormatError:
            pass
    buf = io.BytesIO()
    np.save(buf, np.arange(6, dtype=np.int16).reshape(2, 3))
    for blob in (bytearray(data), bytearray(buf.getvalue()[:len(data) % 140] + data)):
        try:
            npy_view(blob)
        except TensorFormatError:
            pass


@DECODER
@given(token=st.text(max_size=200))
def test_worker_tokens_raise_only_token_error(token):
    for candidate in (token, "swt1." + token, "swt1.e30." + token):
        try:
            verify_worker("key", candidate)
        except TokenError:
            pass


@DECODER
@given(body=st.binary(max_size=300), boundary=st.sampled_from(["b", "XyZ"]))
def test_kb_multipart_locator_raises_only_bad_request(tmp_path_factory, body, boundary):
    path = tmp_path_factory.mktemp("mp") / "body"
    for blob in (body, f"--{boundary}\r\n".encode() + body, f"--{boundary}\r\nContent-Disposition: form-data; "
                 f"name=\"file\"\r\n\r\n".encode() + body + f"\r\n--{boundary}--".encode()):
        path.write_bytes(blob)
        try:
            locate_part(str(path), f"multipart/form-data; boundary={boundary}", "file")
        except BadRequest:
            pass
