"""Shared fixtures for the single-machine cluster tests.

``apiserver`` starts the Kubernetes API emulator on a free 127.0.0.1 port in a background thread and yields
it with ``.url`` (``http://127.0.0.1:PORT``), ``.kubeconfig`` (a kubeconfig file pointing at it),
``.data_dir`` (its SQLite directory) and ``.logs_dir`` (where pod logs ``<ns>_<pod>_<container>.log`` are read).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import support_reference

from sedna.local.apiserver import BackgroundServer


@pytest.fixture
def reference_dir() -> Path:
    """repo_root/../shared/reference (upstream Sedna's CRDs and samples); skips the test when absent."""
    return support_reference.require()


@pytest.fixture
def apiserver(tmp_path):
    data_dir = tmp_path / "apiserver-data"
    server = BackgroundServer(data_dir=data_dir).start()
    server.write_kubeconfig(tmp_path / "kubeconfig")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def k8s_client(apiserver):
    """An ``ApiClient`` of the official kubernetes package configured for the emulator."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(apiserver.kubeconfig), client_configuration=configuration)
    api_client = client.ApiClient(configuration)
    try:
        yield api_client
    finally:
        api_client.close()
