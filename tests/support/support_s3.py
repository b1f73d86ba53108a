"""An S3 endpoint for the tests: moto's server on a free 127.0.0.1 port, in a thread of the test process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 (and other AWS) server while the block runs; yields its ``http://127.0.0.1:PORT``."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module", name="s3_server")
def s3_server_fixture() -> Iterator[str]:
    """One moto server per test module (a module imports ``s3_server_fixture``); the fixture is its URL."""
    with moto_server() as url:
        yield url
