"""The aggregation channel's own websocket client (``sedna.service.client.wsclient``) over real sockets on
127.0.0.1: masking, frame lengths at the 7/16/64-bit boundaries, fragmentation, pings in the middle of a
message, close codes, oversize messages, the handshake, and interop with a plain ``websockets`` server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import ssl
import struct
import threading
import time

import numpy as np
import pytest

from sedna.common.tensors import dumps_arrays, loads_arrays
from sedna.service.client import wsclient
from sedna.service.client.wsclient import ConnectionClosed, InvalidStatus, WebSocketError, mask_into

pytestmark = pytest.mark.timeout(60)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---- a scripted peer: a plain socket server speaking just enough RFC 6455 to drive the client -------------

class Peer:
    """One accepted connection of :func:`serve`: raw frame I/O, server side (unmasked out, unmasked in)."""

    def __init__(self, conn: socket.socket, request: dict[str, str]) -> None:
        self.conn = conn
        self.request = request

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        first = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", first, n)
        elif n < 65536:
            head = struct.pack("!BBH", first, 126, n)
        else:
            head = struct.pack("!BBQ", first, 127, n)
        self.conn.sendall(head + payload)

    def read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def read_frame(self) -> tuple[bool, int, bytes, int, bytes]:
        """(fin, opcode, unmasked payload, length field width in bytes, mask key)."""
        b0, b1 = self.read_exact(2)
        assert b1 & 0x80, "client frames must be masked"
        n, width = b1 & 0x7F, 0
        if n == 126:
            n, width = struct.unpack("!H", self.read_exact(2))[0], 2
        elif n == 127:
            n, width = struct.unpack("!Q", self.read_exact(8))[0], 8
        key = self.read_exact(4)
        masked = self.read_exact(n)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(masked)) if n < 70000 else \
            (np.frombuffer(masked, np.uint8) ^ np.resize(np.frombuffer(key, np.uint8), n)).tobytes()
        return bool(b0 & 0x80), b0 & 0x0F, payload, width, key


def serve(script, status: bytes = b"101 Switching Protocols", accept: str | None = None, body: bytes = b""):
    """A listening socket whose one connection runs ``script(peer)`` after the handshake; returns
    (url, thread, errors) — errors collects what the script raised."""
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def run() -> None:
        conn, _ = listener.accept()
        listener.close()
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            lines = head.decode().split("\r\n")[1:]
            request = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            key = request["sec-websocket-key"]
            answer = accept or base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            response = f"HTTP/1.1 {status.decode()}\r\n"
            if status.startswith(b"101"):
                response += f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {answer}\r\n\r\n"
            else:
                response += f"Content-Length: {len(body)}\r\n\r\n"
            conn.sendall(response.encode() + body)
            if status.startswith(b"101"):
                script(Peer(conn, request))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"ws://127.0.0.1:{listener.getsockname()[1]}/FedAvg?x=1", thread, errors


def finish(thread: threading.Thread, errors: list) -> None:
    thread.join(10)
    assert not thread.is_alive() and not errors, errors


LENGTHS = [0, 1, 3, 125, 126, 127, 65535, 65536, 65537, 1024 * 1024 + 3]


# ---- masking ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 125, 126, 65535, 65536, 1024 * 1024 + 3])
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_mask_matches_the_bytewise_definition_for_odd_lengths_and_unaligned_views(n, offset):
    data = np.random.default_rng(n).integers(0, 256, n + offset, dtype=np.uint8).tobytes()
    key = os.urandom(4)
    out = np.empty(n + 8, np.uint8)
    masked = bytes(mask_into(memoryview(data)[offset:], key, out))
    expected = (np.frombuffer(data[offset:], np.uint8) ^ np.resize(np.frombuffer(key, np.uint8), n)).tobytes()
    assert masked == expected
    assert bytes(mask_into(memoryview(masked), key, np.empty(n, np.uint8))) == data[offset:]  # XOR undoes it


# ---- sending ----------------------------------------------------------------------------------------------

def test_sent_frames_use_the_right_length_encoding_and_a_fresh_mask_each():
    got = []

    def script(peer: Peer) -> None:
        for _ in LENGTHS:
            got.append(peer.read_frame())
        got.append(peer.read_frame())                       # the text frame
        got.extend(peer.read_frame() for _ in range(3))     # a fragmented binary message
        assert peer.read_frame()[1] == 0x8                  # close
        peer.send_frame(0x8, struct.pack("!H", 1000))

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=None)
    payloads = [os.urandom(n) for n in LENGTHS]
    for p in payloads:
        ws.send(p)
    ws.send("héllo")
    ws.send([b"ab", memoryview(b"cde"), bytearray(b"f")])
    ws.close()
    finish(thread, errors)
    for (fin, opcode, payload, width, _), sent in zip(got, payloads):
        assert (fin, opcode, payload) == (True, 0x2, sent)
        assert width == (0 if len(sent) < 126 else 2 if len(sent) < 65536 else 8)
    assert got[len(LENGTHS)][1:3] == (0x1, "héllo".encode())
    assert [(f[0], f[1], f[2]) for f in got[-3:]] == [(False, 0x2, b"ab"), (False, 0x0, b"cde"), (True, 0x0, b"f")]
    assert len({f[4] for f in got}) > len(got) - 2, "a fresh random mask per frame"


# ---- receiving --------------------------------------------------------------------------------------------

def test_received_messages_of_every_length_class_and_fragmented_text():
    def script(peer: Peer) -> None:
        for n in LENGTHS:
            peer.send_frame(0x2, bytes(range(256)) * (n // 256) + bytes(n % 256))
        text = "aé€z".encode()
        peer.send_frame(0x1, text[:2], fin=False)          # splits the 2-byte é
        peer.send_frame(0x0, text[2:4], fin=False)
        peer.send_frame(0x0, text[4:])
        peer.read_frame()
        peer.send_frame(0x8, struct.pack("!H", 1000))

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=None, max_size=2 ** 22)
    for n in LENGTHS:
        message = ws.recv(timeout=10)
        assert bytes(message) == bytes(range(256)) * (n // 256) + bytes(n % 256)
        assert not message.readonly
    assert ws.recv(timeout=10) == "aé€z"
    ws.close()
    finish(thread, errors)


def test_a_ping_in_the_middle_of_a_fragmented_safetensors_message_is_answered():
    data = dumps_arrays({"w": np.arange(400_000, dtype=np.float32)}, {"round": 3})
    pongs = []

    def script(peer: Peer) -> None:
        step = 1024 * 1024
        pieces = [data[i:i + step] for i in range(0, len(data), step)]
        for i, piece in enumerate(pieces):
            peer.send_frame(0x2 if i == 0 else 0x0, piece, fin=i == len(pieces) - 1)
            if i == 0:
                peer.send_frame(0x9, b"are you there")
                pongs.append(peer.read_frame())              # answered before the message is complete
        peer.read_frame()
        peer.send_frame(0x8, struct.pack("!H", 1000))

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=None, max_size=2 ** 24)
    message = ws.recv(timeout=10)
    arrays, meta = loads_arrays(message, copy=False)
    assert meta["round"] == "3" or meta["round"] == 3
    assert arrays["w"][-1] == 399_999
    arrays["w"][0] = 7                                        # writable memory of its own
    ws.close()
    finish(thread, errors)
    assert pongs[0][1:3] == (0xA, b"are you there")


def test_server_close_code_and_reason_are_kept_and_echoed():
    echoed = []

    def script(peer: Peer) -> None:
        peer.send_frame(0x1, b"last words")
        peer.send_frame(0x8, struct.pack("!H", 1008) + b"policy violated")
        echoed.append(peer.read_frame())

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=None)
    assert ws.recv(timeout=10) == "last words"                # queued messages come first
    with pytest.raises(ConnectionClosed) as err:
        ws.recv(timeout=10)
    assert (err.value.rcvd.code, err.value.rcvd.reason) == (1008, "policy violated")
    assert isinstance(err.value, OSError)
    with pytest.raises(ConnectionClosed):
        ws.send("too late")
    ws.close()
    finish(thread, errors)
    assert echoed[0][1] == 0x8 and struct.unpack("!H", echoed[0][2][:2])[0] == 1008


def test_oversize_message_closes_with_1009():
    closes = []

    def script(peer: Peer) -> None:
        peer.send_frame(0x2, b"x" * 600, fin=False)
        peer.send_frame(0x0, b"y" * 600)
        closes.append(peer.read_frame())

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=None, max_size=1000)
    with pytest.raises(ConnectionClosed) as err:
        ws.recv(timeout=10)
    assert err.value.sent.code == 1009 and err.value.rcvd is None
    ws.close()
    finish(thread, errors)
    assert struct.unpack("!H", closes[0][2][:2])[0] == 1009


@pytest.mark.parametrize("frames, code", [
    ([(0x0, b"no message to continue", True)], 1002),
    ([(0x1, b"a", False), (0x2, b"b", True)], 1002),
    ([(0x9, b"p", False)], 1002),
    ([(0x1, b"\xff\xfe", True)], 1007),
])
def test_protocol_errors_close_the_connection_with_their_code(frames, code):
    closes = []

    def script(peer: Peer) -> None:
        for opcode, payload, fin in frames:
            peer.send_frame(opcode, payload, fin)
        closes.append(peer.read_frame())

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=None)
    with pytest.raises(ConnectionClosed) as err:
        ws.recv(timeout=10)
    assert err.value.sent.code == code
    ws.close()
    finish(thread, errors)
    assert struct.unpack("!H", closes[0][2][:2])[0] == code


def test_queue_is_bounded_and_drains():
    def script(peer: Peer) -> None:
        for i in range(6):
            peer.send_frame(0x2, bytes([i]) * 1000)
        peer.read_frame()
        peer.send_frame(0x8, struct.pack("!H", 1000))

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=None, max_queue=2500)
    time.sleep(0.3)
    assert 2000 <= ws._queued <= 3000, "the reader stops once the queue is full"
    assert [bytes(ws.recv(timeout=10))[0] for _ in range(6)] == list(range(6))
    ws.close()
    finish(thread, errors)


# ---- handshake and keepalive ------------------------------------------------------------------------------

def test_handshake_sends_the_bearer_token_and_the_path():
    seen = []

    def script(peer: Peer) -> None:
        seen.append(peer.request)
        peer.read_frame()
        peer.send_frame(0x8, struct.pack("!H", 1000))

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, headers={"Authorization": "Bearer s3cret"}, ping_interval=None)
    ws.close()
    finish(thread, errors)
    assert seen[0]["authorization"] == "Bearer s3cret" and seen[0]["sec-websocket-version"] == "13"


def test_refused_handshake_carries_status_and_body_and_a_wrong_accept_is_rejected():
    url, thread, errors = serve(None, status=b"401 Unauthorized", body=b"missing or wrong bearer token\n")
    with pytest.raises(InvalidStatus) as err:
        wsclient.connect(url)
    assert err.value.status_code == 401 and err.value.body == b"missing or wrong bearer token\n"
    finish(thread, errors)
    url, thread, errors = serve(lambda peer: None, accept="bm90IHRoZSByaWdodCBhbnN3ZXI=")
    with pytest.raises(WebSocketError, match="Accept"):
        wsclient.connect(url)
    finish(thread, errors)


def test_open_timeout_applies_to_a_silent_server():
    listener = socket.create_server(("127.0.0.1", 0))
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        wsclient.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/", open_timeout=0.5)
    assert time.monotonic() - start < 3
    listener.close()


def test_keepalive_drops_a_connection_whose_server_does_not_answer_pings():
    def script(peer: Peer) -> None:
        assert peer.read_frame()[1] == 0x9                     # a ping, never answered
        time.sleep(1.5)

    url, thread, errors = serve(script)
    ws = wsclient.connect(url, ping_interval=0.2, ping_timeout=0.3)
    with pytest.raises(ConnectionClosed, match="keepalive"):
        ws.recv(timeout=5)
    ws.close()
    finish(thread, errors)


# ---- interop with a plain websockets server ---------------------------------------------------------------

@pytest.mark.parametrize("tls", [False, True])
def test_interop_with_a_websockets_echo_server_and_its_keepalive(tls, tmp_path):
    from websockets.asyncio.server import serve as ws_serve

    from sedna.local.apiserver.tls import ensure_certificate, server_context

    cert, key = ensure_certificate(tmp_path) if tls else (None, None)
    ready = threading.Event()
    state: dict = {}

    async def echo(connection) -> None:
        async for message in connection:
            await connection.send(message)

    async def main() -> None:
        async with ws_serve(echo, "127.0.0.1", 0, ping_interval=0.2, ping_timeout=0.5, max_size=2 ** 23,
                            ssl=server_context(cert, key) if tls else None) as server:
            state["port"] = server.sockets[0].getsockname()[1]
            state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    ws = wsclient.connect(f"{'wss' if tls else 'ws'}://127.0.0.1:{state['port']}/", ping_interval=0.2,
                          ping_timeout=2, max_size=2 ** 23,
                          ssl_context=ssl.create_default_context(cafile=str(cert)) if tls else None)
    ws.send("hello")
    assert ws.recv(timeout=5) == "hello"
    big = np.random.default_rng(1).integers(0, 256, 3 * 1024 * 1024 + 5, dtype=np.uint8).tobytes()
    ws.send([memoryview(big)[i:i + 1024 * 1024] for i in range(0, len(big), 1024 * 1024)])
    assert bytes(ws.recv(timeout=10)) == big
    time.sleep(1.5)                     # nobody reads: the reader thread answers the server's pings
    ws.send(b"\x00" * 70000)
    assert bytes(ws.recv(timeout=5)) == b"\x00" * 70000
    ws.close()
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


def test_a_global_model_over_the_clients_limit_fails_fast_instead_of_reconnecting(tmp_path):
    from support_fl import make_server, url_of

    from sedna.service.client import AggregationClient
    from sedna.service.client.aggregation import AggregationError

    server = make_server(tmp_path, exit_round=3, participants_count=1, job_name="big")
    server.start_background()
    url = url_of(server)
    early = AggregationClient(url, "early", connect_timeout=10)
    early.exchange([np.ones(1_000_000, np.float32)], 1, timeout=20)     # a 4 MB global model
    start = time.monotonic()
    with pytest.raises(AggregationError, match="1009"):
        AggregationClient(url, "small", connect_timeout=30, max_size=2 ** 20)   # gets it on subscribe
    assert time.monotonic() - start < 10, "no reconnect loop until connect_timeout"
    early.close()
    server.stop()
