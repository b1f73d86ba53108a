"""sedna/gm/http1.py: the GM's keep-alive HTTP/1.1 pool, against real servers on 127.0.0.1 (aiohttp, and raw
asyncio servers for what a well-behaved server never does)."""

import asyncio
import ssl

import pytest
from aiohttp import web

from sedna.gm import http1
from sedna.gm.kube import Connection, KubeClient, KubeError
from sedna.local.apiserver.tls import ensure_certificate, server_context

pytestmark = [pytest.mark.timeout(60)]


async def _aiohttp_server(ssl_context=None, keepalive_timeout=75.0):
    peers: list = []

    async def handle(request: web.Request):
        peers.append(request.transport.get_extra_info("peername"))
        body = await request.read()
        if request.path == "/chunked":
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(4):
                await resp.write(b"%d:" % i + b"x" * (1 << 20))
            await resp.write_eof()
            return resp
        if request.path == "/empty":
            return web.Response(status=204)
        if request.path.endswith("/missing"):
            return web.json_response({"message": "not here"}, status=404)
        if request.path == "/close":
            return web.Response(body=b"bye", headers={"Connection": "close"})
        if request.path == "/slow":
            await asyncio.sleep(2)
        return web.json_response({"method": request.method, "path": request.path_qs,
                                  "ctype": request.headers.get("Content-Type"),
                                  "auth": request.headers.get("Authorization"), "body": body.decode()})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, keepalive_timeout=keepalive_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, port, peers


def run(coro):
    return asyncio.run(coro)


def test_content_length_and_chunked_bodies_and_keep_alive():
    async def main():
        runner, port, peers = await _aiohttp_server()
        pool = http1.Pool(f"http://127.0.0.1:{port}", limit=4)
        try:
            status, body = await pool.request("POST", "/a/b?x=1", b"Content-Type: application/json\r\n", b'{"k":1}')
            assert status == 200
            doc = __import__("json").loads(body)
            assert doc == {"method": "POST", "path": "/a/b?x=1", "ctype": "application/json", "auth": None,
                           "body": '{"k":1}'}
            status, body = await pool.request("GET", "/chunked")
            assert status == 200 and len(body) == 4 * ((1 << 20) + 2) and body.startswith(b"0:xx")
            assert body[(1 << 20) + 2:(1 << 20) + 4] == b"1:"
            assert (await pool.request("GET", "/empty")) == (204, b"")
            status, body = await pool.request("GET", "/missing")
            assert status == 404 and b"not here" in body
            for _ in range(20):
                assert (await pool.request("GET", "/again"))[0] == 200
            assert len(set(peers)) == 1, "sequential requests share one keep-alive connection"
            peers.clear()
            results = await asyncio.gather(*(pool.request("PUT", f"/p/{i}", b"", b"x") for i in range(40)))
            assert [s for s, _ in results] == [200] * 40
            assert len(set(peers)) <= 4, "at most `limit` connections"
        finally:
            pool.close()
            await runner.cleanup()
    run(main())


def test_connection_close_and_idle_connections_closed_by_the_server():
    async def main():
        runner, port, peers = await _aiohttp_server(keepalive_timeout=0.2)
        pool = http1.Pool(f"http://127.0.0.1:{port}")
        try:
            assert await pool.request("GET", "/close") == (200, b"bye")
            assert (await pool.request("GET", "/next"))[0] == 200
            await asyncio.sleep(0.6)                    # the server drops the idle connection
            assert (await pool.request("POST", "/after-idle", b"", b"{}"))[0] == 200
            assert len(set(peers)) == 3
        finally:
            pool.close()
            await runner.cleanup()
    run(main())


async def _raw_server(answer):
    """A server that calls ``answer(n, reader, writer)`` for the n-th request head it reads (0-based)."""
    count = {"requests": 0, "connections": 0}

    async def handle(reader, writer):
        count["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                n = count["requests"]
                count["requests"] += 1
                if not await answer(n, reader, writer):
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], count


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_reused_connection_lost_before_the_answer_is_retried_only_for_idempotent_methods():
    async def answer(n, reader, writer):
        if n in (1, 4):                  # the second request on a kept connection: closed without an answer
            return False
        writer.write(OK)
        await writer.drain()
        return True

    async def main():
        server, port, count = await _raw_server(answer)
        pool = http1.Pool(f"http://127.0.0.1:{port}")
        try:
            assert await pool.request("GET", "/0") == (200, b"ok")
            assert await pool.request("PUT", "/1", b"", b"x") == (200, b"ok")     # retried on a new connection
            assert count["connections"] == 2 and count["requests"] == 3
            assert await pool.request("GET", "/3") == (200, b"ok")
            with pytest.raises(http1.HTTPError, match="connection lost"):
                await pool.request("POST", "/4", b"", b"x")                     # a create is never re-sent
            assert count["requests"] == 5
            assert await pool.request("POST", "/5", b"", b"x") == (200, b"ok")
        finally:
            pool.close()
            server.close()
    run(main())


@pytest.mark.parametrize("reply, match", [
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.1 response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX", "bad chunk framing"),
    (b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody until close", "without Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "connection lost"),
])
def test_malformed_answers_fail_the_request_and_the_pool_goes_on(reply, match):
    async def answer(n, reader, writer):
        writer.write(reply if n == 0 else OK)
        await writer.drain()
        return n != 0                    # the bad answer's connection is closed after it

    async def main():
        server, port, _ = await _raw_server(answer)
        pool = http1.Pool(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(http1.HTTPError, match=match):
                await pool.request("POST", "/", b"", b"{}")
            assert await pool.request("POST", "/", b"", b"{}") == (200, b"ok")
        finally:
            pool.close()
            server.close()
    run(main())


def test_timeouts_and_refused_connections_are_http_errors():
    async def main():
        runner, port, _ = await _aiohttp_server()
        pool = http1.Pool(f"http://127.0.0.1:{port}", timeout=0.3)
        try:
            with pytest.raises(http1.HTTPError, match="no answer within 0.3 s"):
                await pool.request("GET", "/slow")
            assert (await pool.request("GET", "/fast"))[0] == 200
        finally:
            pool.close()
            await runner.cleanup()
        with pytest.raises(http1.HTTPError, match="cannot connect"):
            await http1.Pool(f"http://127.0.0.1:{port}", timeout=1).request("GET", "/")
    run(main())


def test_https_verifies_the_server_unless_told_not_to(tmp_path):
    cert, key = ensure_certificate(tmp_path)

    async def main():
        runner, port, _ = await _aiohttp_server(ssl_context=server_context(cert, key))
        try:
            trusted = http1.Pool(f"https://127.0.0.1:{port}", ssl.create_default_context(cafile=str(cert)))
            assert (await trusted.request("GET", "/tls"))[0] == 200
            trusted.close()
            with pytest.raises(http1.HTTPError, match="cannot connect"):
                await http1.Pool(f"https://127.0.0.1:{port}").request("GET", "/tls")   # system CAs only
            client = KubeClient(Connection(server=f"https://127.0.0.1:{port}", token="tok", insecure=True))
            doc = await client._request("GET", "/insecure")
            assert doc["auth"] == "Bearer tok"
            await client.close()
        finally:
            await runner.cleanup()
    run(main())


def test_kube_client_answers_kube_errors():
    async def main():
        runner, port, _ = await _aiohttp_server()
        client = KubeClient(Connection(server=f"http://127.0.0.1:{port}"))
        try:
            assert await client.get("/api/v1", "pods", "ns", "missing") is None
            with pytest.raises(KubeError) as info:
                await client._request("GET", "/missing")
            assert info.value.status == 404 and "not here" in str(info.value)
            doc = await client.merge_patch("/api/v1", "pods", "ns", "p", {"metadata": {"labels": {"a": "b"}}})
            assert doc["method"] == "PATCH" and doc["ctype"] == "application/merge-patch+json"
            listed = await client._request("GET", "/api/v1/pods", params={"labelSelector": "a=b,c=d"})
            assert listed["path"] == "/api/v1/pods?labelSelector=a%3Db%2Cc%3Dd"
        finally:
            await client.close()
            await runner.cleanup()
        with pytest.raises(KubeError) as info:
            await client._request("GET", "/gone")
        assert info.value.status == 0
    run(main())


def test_a_cancelled_worker_always_stops():
    """The GM stops its workers by cancelling them. A request whose answer arrives at the moment of the
    cancellation must still end in CancelledError: asyncio.wait_for before 3.12 returned the answer and dropped
    the cancellation, and the worker then carried on for ever. Cancel looping workers at many moments."""
    async def answer(n, reader, writer):
        writer.write(OK)
        await writer.drain()
        return True

    async def main():
        server, port, _ = await _raw_server(answer)
        pool = http1.Pool(f"http://127.0.0.1:{port}", limit=8)

        async def worker():
            while True:
                await pool.request("GET", "/")

        try:
            for round_ in range(60):
                workers = [asyncio.create_task(worker()) for _ in range(8)]
                await asyncio.sleep(0.001 * (round_ % 7))
                for task in workers:
                    task.cancel()
                _, pending = await asyncio.wait(workers, timeout=2)
                assert not pending, f"round {round_}: {len(pending)} cancelled workers still running"
        finally:
            pool.close()
            server.close()
    run(main())
