"""Fixtures of the dashboard tests: the Kubernetes API emulator with the Sedna CRDs, and a dashboard hub over it.

``kube`` is an httpx client of the emulator (writes objects the way the GM and the runtime would);
``hub`` is a started :class:`ClusterHub` reading it through a real kubeconfig; ``dashboard_app`` the FastAPI
app over that hub.
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from sedna.api.crdgen import crd
from sedna.api.registry import KINDS
from sedna.dashboard.app import MetricsLink, create_app
from sedna.dashboard.hub import ClusterHub
from sedna.dashboard.kube import KubeReader, load_connection
from sedna.local.apiserver import BackgroundServer

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.fixture
def cluster(tmp_path):
    token = secrets.token_urlsafe(16)          # authenticated like a `sedna local` cluster's API server
    server = BackgroundServer(data_dir=tmp_path / "apiserver", token=token).start()
    server.write_kubeconfig(tmp_path / "kubeconfig")
    http = httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"})
    for info in KINDS:
        assert http.post(CRD_PATH, json=crd(info)).status_code in (200, 201)
    try:
        yield server, http
    finally:
        http.close()
        server.stop()


@pytest.fixture
def kube(cluster):
    return cluster[1]


@pytest.fixture
def hub(cluster):
    server, _ = cluster
    hub = ClusterHub(KubeReader(load_connection(str(server.kubeconfig))), retry_seconds=0.5).start()
    assert hub.wait_synced(15)
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def dashboard_app(hub):
    return create_app(hub, None, [MetricsLink(name="gm", url="http://127.0.0.1:9/metrics")])
