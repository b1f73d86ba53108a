"""``sedna local apply`` validates fields like kubectl (strict by default, ``--validate=warn|false``), against a
real API emulator: an unknown field is an error naming it, for Sedna kinds and for built-in kinds."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from sedna.api.crdgen import crd
from sedna.api.registry import get_kind
from sedna.local import state as st
from sedna.local.client import Client

REPO = Path(__file__).resolve().parents[2]

DATASET = {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "ds"},
           "spec": {"url": "/data/a.txt", "format": "txt", "nodeName": "edge-node", "nodname": "typo"}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "w", "image": "python", "imagee": "typo"}]}}


@pytest.fixture
def cluster_dir(apiserver, tmp_path):
    """A data dir whose state.json names the emulator (and this process as the running supervisor)."""
    with closing(Client(apiserver.url)) as client:
        client.json("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd(get_kind("Dataset")))
    data_dir = tmp_path / "cluster"
    data_dir.mkdir()
    st.write_state(data_dir, {"supervisor": st.proc_record(os.getpid()), "ready": True, "url": apiserver.url,
                              "kubeconfig": str(apiserver.kubeconfig)})
    return data_dir


def apply(data_dir: Path, tmp_path: Path, doc: dict, *flags: str) -> subprocess.CompletedProcess:
    path = tmp_path / f"{doc['kind']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                           str(data_dir), "apply", "-f", str(path), *flags], capture_output=True, text=True,
                          timeout=60, check=False, cwd=REPO)


@pytest.mark.parametrize("doc,field", [(DATASET, "spec.nodname"), (POD, "spec.containers[0].imagee")],
                         ids=["sedna-kind", "built-in-kind"])
def test_unknown_field_is_an_error_naming_it_by_default(cluster_dir, tmp_path, apiserver, doc, field):
    res = apply(cluster_dir, tmp_path, doc)
    assert res.returncode == 1
    assert f'unknown field "{field}"' in res.stdout, res.stdout + res.stderr
    with closing(Client(apiserver.url)) as client:     # nothing was created
        path = "/apis/sedna.io/v1alpha1/namespaces/default/datasets/ds" if doc["kind"] == "Dataset" else \
            "/api/v1/namespaces/default/pods/p"
        assert client.request("GET", path).status_code == 404


@pytest.mark.parametrize("doc,field", [(DATASET, "spec.nodname"), (POD, "spec.containers[0].imagee")],
                         ids=["sedna-kind", "built-in-kind"])
def test_validate_warn_and_false(cluster_dir, tmp_path, doc, field):
    warn = apply(cluster_dir, tmp_path, doc, "--validate=warn")
    assert warn.returncode == 0, warn.stdout + warn.stderr
    assert f'Warning: {doc["kind"].lower()}/{doc["metadata"]["name"]}: unknown field "{field}"' in warn.stderr
    quiet = apply(cluster_dir, tmp_path, doc, "--validate=false")
    assert quiet.returncode == 0 and "unchanged" in quiet.stdout and "Warning" not in quiet.stderr


def test_a_known_change_still_configures_an_existing_object(cluster_dir, tmp_path):
    good = {**DATASET, "spec": {k: v for k, v in DATASET["spec"].items() if k != "nodname"}}
    assert apply(cluster_dir, tmp_path, good).returncode == 0
    bad = {**good, "spec": {**good["spec"], "format": "csv", "extra": 1}}
    res = apply(cluster_dir, tmp_path, bad)            # the update path (merge patch) is strict too
    assert res.returncode == 1 and 'unknown field "spec.extra"' in res.stdout
    changed = {**good, "spec": {**good["spec"], "format": "csv"}}
    res = apply(cluster_dir, tmp_path, changed)
    assert res.returncode == 0 and "configured" in res.stdout
