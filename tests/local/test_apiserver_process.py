"""The emulator as a process: ``python -m sedna.local.apiserver``, SIGTERM, persistence across restarts, and
malformed requests that must never take it down."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager

import pytest
import urllib3
from support_procs import stop_process

HTTP = urllib3.PoolManager()


@contextmanager
def server_process(data_dir=None):
    cmd = [sys.executable, "-m", "sedna.local.apiserver", "--host", "127.0.0.1", "--port", "0", "--insecure"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        yield proc, line.split()[-1]
    finally:
        stop_process(proc, 15)


def call(method, url, body=None, content_type="application/json", raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    resp = HTTP.request(method, url, body=data, headers={"Content-Type": content_type}, timeout=30, retries=False)
    try:
        decoded = json.loads(resp.data)
    except ValueError:
        decoded = resp.data
    return resp.status, decoded


def test_module_entry_point_and_sigterm():
    with server_process() as (proc, url):
        status, version = call("GET", f"{url}/version")
        assert status == 200 and version["major"] == "1"
        status, ns = call("GET", f"{url}/api/v1/namespaces/default")
        assert status == 200 and ns["kind"] == "Namespace"
        host, port = url.rsplit("/", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:   # an open watch stream
            sock.sendall(b"GET /api/v1/pods?watch=true HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in sock.recv(4096)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0


def test_restart_with_the_same_data_dir_keeps_objects(tmp_path):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "things", "kind": "Thing"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    with server_process(tmp_path) as (_, url):
        assert call("POST", f"{url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
        status, thing = call("POST", f"{url}/apis/example.com/v1/namespaces/default/things",
                             {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
                              "spec": {"n": 1}})
        assert status == 201
        status, cm = call("POST", f"{url}/api/v1/namespaces/default/configmaps",
                          {"metadata": {"name": "kept"}, "data": {"a": "b"}})
        assert status == 201
    with server_process(tmp_path) as (_, url):
        status, again = call("GET", f"{url}/apis/example.com/v1/namespaces/default/things/t")
        assert status == 200 and again["metadata"]["uid"] == thing["metadata"]["uid"]
        assert again["spec"] == {"n": 1}
        status, kept = call("GET", f"{url}/api/v1/namespaces/default/configmaps/kept")
        assert status == 200 and kept["data"] == {"a": "b"}
        status, fresh = call("POST", f"{url}/api/v1/namespaces/default/configmaps", {"metadata": {"name": "new"}})
        assert int(fresh["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
        # a watch from before the restart cannot be replayed
        watch = HTTP.request("GET", f"{url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion="
                                    f"{thing['metadata']['resourceVersion']}&timeoutSeconds=1", timeout=10)
        assert json.loads(watch.data.splitlines()[0])["object"]["code"] == 410


@pytest.fixture(scope="module")
def url():
    with server_process() as (_, base):
        yield base


@pytest.mark.parametrize("method,path,body,content_type,code,reason", [
    ("POST", "/api/v1/namespaces/default/configmaps", b"{not json", "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"[1, 2]", "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": {"name": "n"}, "x": NaN}', "application/json",
     400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"[" * 100000, "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"", "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"\xff\xfe", "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"a: [b", "application/yaml", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"metadata: {name: s}\ndata: !!set {a}", "application/yaml",
     400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"metadata: {name: s}\ndata: {a: !!binary aGk=}",
     "application/yaml", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"kind": "Secret", "metadata": {"name": "x"}}',
     "application/json", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": "nope"}', "application/json", 400,
     "BadRequest"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": {"name": "x", "labels": {"a": 1}}}',
     "application/json", 422, "Invalid"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": {}}', "application/json", 422, "Invalid"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": {"name": "l", "labels": {"a": "has space"}}}',
     "application/json", 422, "Invalid"),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": {"name": "l", "annotations": {"-bad": "x"}}}',
     "application/json", 422, "Invalid"),
    ("POST", "/api/v1/namespaces/default/configmaps", b"\x08\x01", "application/vnd.kubernetes.protobuf", 415,
     "UnsupportedMediaType"),
    ("GET", "/api/v1/nothings", None, "application/json", 404, "NotFound"),
    ("GET", "/apis/nogroup/v1/things", None, "application/json", 404, "NotFound"),
    ("GET", "/api/v1/namespaces/default/configmaps/x/y/z", None, "application/json", 404, "NotFound"),
    ("GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(", None, "application/json", 400,
     "BadRequest"),
    ("GET", "/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3Dy", None, "application/json", 400,
     "BadRequest"),
    ("GET", "/api/v1/namespaces/default/configmaps?limit=many", None, "application/json", 400, "BadRequest"),
    ("GET", "/api/v1/namespaces/default/configmaps?continue=garbage", None, "application/json", 400,
     "BadRequest"),
    ("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc", None, "application/json", 400,
     "BadRequest"),
    ("PATCH", "/api/v1/namespaces/default/configmaps/seed", b"{}", "text/plain", 415, "UnsupportedMediaType"),
    ("PATCH", "/api/v1/namespaces/default/configmaps/seed", b'{"op": "add"}', "application/json-patch+json", 400,
     "BadRequest"),
    ("PATCH", "/api/v1/namespaces/default/configmaps/seed", b'[1]', "application/merge-patch+json", 422,
     "Invalid"),
    ("PATCH", "/api/v1/namespaces/default/configmaps/seed", b'{"metadata": {"name": "other"}}',
     "application/merge-patch+json", 400, "BadRequest"),
    ("PUT", "/api/v1/namespaces/default/configmaps/seed", b'{"metadata": {"name": "seed", "resourceVersion": "1"}}',
     "application/json", 409, "Conflict"),
    ("DELETE", "/api/v1/namespaces/default/configmaps/seed", b'{"propagationPolicy": "Sometimes"}',
     "application/json", 422, "Invalid"),
    ("DELETE", "/api/v1/namespaces/default/configmaps/seed", b"{bad", "application/json", 400, "BadRequest"),
    ("PUT", "/api/v1/namespaces/default/configmaps", b"{}", "application/json", 405, "MethodNotAllowed"),
])
def test_malformed_requests_get_kubernetes_errors(url, method, path, body, content_type, code, reason):
    call("POST", f"{url}/api/v1/namespaces/default/configmaps", {"metadata": {"name": "seed"}})
    status, answer = call(method, url + path, raw=body, content_type=content_type)
    assert status == code, answer
    assert answer["kind"] == "Status" and answer["reason"] == reason and answer["code"] == code
    assert call("GET", f"{url}/version")[0] == 200


def test_oversized_body_and_garbage_bytes_do_not_kill_the_server(url):
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (4 * 1024 * 1024)}}
    status, answer = call("POST", f"{url}/api/v1/namespaces/default/configmaps", big)
    assert status == 413 and answer["reason"] == "RequestEntityTooLarge"
    host, port = url.rsplit("/", 1)[1].split(":")
    for garbage in (b"\x00\x01\x02 not http\r\n\r\n", b"GET /version HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(garbage)
            sock.recv(1024)
    # a client that disconnects in the middle of a watch
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /api/v1/namespaces?watch=true HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(4096)
    status, version = call("GET", f"{url}/version")
    assert status == 200 and version["major"] == "1"
