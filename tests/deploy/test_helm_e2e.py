"""``sedna local install-chart`` / ``helm-e2e``: the pure parts table-tested, the install on a ``--bare``
cluster, and ``hack/helm-e2e.sh`` end to end (chart → GM and LC pods → joint-inference counts in the CR)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_support import CHART, REPO
from support_procs import free_port

from sedna.local.chart import ChartError, merge_values, parse_set, sort_for_install, split_rendered
from sedna.local.helm_e2e import ji_outcome, single_machine_values, workloads_ready
from sedna.local.runtime.images import SEDNA_IMAGES, load_image_map, with_sedna_images


@pytest.mark.parametrize("pairs, expected", [
    (["a=1"], {"a": 1}),
    (["a.b=x", "a.c=true", "a.d=null"], {"a": {"b": "x", "c": True, "d": None}}),
    (["a.b=1", "a.b=2"], {"a": {"b": 2}}),
    (["a=1", "a.b=2"], {"a": {"b": 2}}),
    (["l={x, y}"], {"l": ["x", "y"]}),
    (["v=007", "w=-3", "s=$(POD_IP)"], {"v": "007", "w": -3, "s": "$(POD_IP)"}),
    (["k=a=b"], {"k": "a=b"}),
])
def test_parse_set(pairs, expected):
    assert parse_set(pairs) == expected


@pytest.mark.parametrize("bad", ["novalue", "=x", "a..b=1"])
def test_parse_set_rejects(bad):
    with pytest.raises(ChartError, match="--set"):
        parse_set([bad])


def test_merge_values_is_deep_and_later_wins():
    base = {"gm": {"port": 1, "sel": {"a": "1"}}, "l": [1]}
    assert merge_values(base, {"gm": {"sel": {"b": "2"}}, "l": [2]}) == \
        {"gm": {"port": 1, "sel": {"a": "1", "b": "2"}}, "l": [2]}
    assert base == {"gm": {"port": 1, "sel": {"a": "1"}}, "l": [1]}


def test_install_order_like_helm():
    objs = [{"kind": k, "metadata": {"name": n}} for k, n in
            [("Deployment", "gm"), ("Widget", "w"), ("Service", "gm"), ("ClusterRole", "r"), ("Secret", "s"),
             ("ServiceAccount", "sa"), ("DaemonSet", "lc"), ("Namespace", "ns"), ("ConfigMap", "c")]]
    assert [o["kind"] for o in sort_for_install(objs)] == [
        "Namespace", "ServiceAccount", "Secret", "ConfigMap", "ClusterRole", "Service", "DaemonSet", "Deployment",
        "Widget"]


def test_split_rendered_drops_empty_documents_and_keeps_notes():
    objs, notes = split_rendered({"c/templates/a.yaml": "---\n# only a comment\n---\nkind: A\nmetadata: {name: a}\n",
                                  "c/templates/NOTES.txt": "hello", "c/templates/off.yaml": "\n"})
    assert objs == [{"kind": "A", "metadata": {"name": "a"}}] and notes == "hello"


@pytest.mark.parametrize("deployment, daemonset, expected", [
    (None, None, "GM deployment not available yet"),
    ({"status": {"availableReplicas": 1}}, {"status": {"desiredNumberScheduled": 0}}, "no node"),
    ({"status": {"availableReplicas": 1}}, {"status": {"desiredNumberScheduled": 2, "numberReady": 1}}, "1/2"),
    ({"status": {"availableReplicas": 1}}, {"status": {"desiredNumberScheduled": 2, "numberReady": 2}}, ""),
])
def test_workloads_ready(deployment, daemonset, expected):
    got = workloads_ready(deployment, daemonset)
    assert (got == "") if expected == "" else (expected in got)


def svc(inference, hard, condition="Running"):
    return {"status": {"conditions": [{"type": condition}],
                       "metrics": [{"key": "inferenceNumber", "value": str(inference)},
                                   {"key": "hardExampleNumber", "value": str(hard)}]}}


@pytest.mark.parametrize("service, frames, written, hard, expected", [
    (None, 4, 0, 0, "running"),
    (svc(4, 2), 4, 4, 2, "done"),
    (svc(4, 1), 4, 4, 2, "running"),          # the last hard-example count not reported yet
    (svc(3, 2), 4, 4, 2, "running"),
    (svc(4, 2), 4, 3, 2, "running"),
    (svc(0, 0, "Failed"), 4, 0, 0, "failed"),
])
def test_ji_outcome(service, frames, written, hard, expected):
    assert ji_outcome(service, frames, written, hard) == expected


def test_single_machine_values_only_touch_addresses_and_port():
    assert single_machine_values(19100) == {"gm": {"bindAddress": "$(POD_IP)"},
                                            "lc": {"bindAddress": "$(HOST_IP)", "bindPort": 19100}}


def test_builtin_image_map_runs_sedna_images_and_a_file_overrides(tmp_path):
    imap = with_sedna_images(load_image_map(None))
    assert imap.lookup("sedna/gm:0.1.0").entrypoint == SEDNA_IMAGES["sedna/gm"]["entrypoint"]
    assert imap.lookup("sedna/lc:v9").entrypoint == ["python", "-m", "sedna", "lc"]
    f = tmp_path / "map.yaml"
    f.write_text("python: /opt/py\nimages:\n  sedna/lc: {entrypoint: [echo]}\n  other: {cmd: [x]}\n")
    imap = with_sedna_images(load_image_map(f))
    assert imap.lookup("sedna/lc:1").entrypoint == ["echo"] and imap.lookup("sedna/gm:1") is not None
    assert imap.python == "/opt/py" and imap.lookup("other").cmd == ["x"]


def _sedna(data_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                           str(data_dir), *args], capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=REPO)


def test_install_chart_dry_run_prints_every_object(tmp_path):
    out = _sedna(tmp_path, "install-chart", str(CHART), "--dry-run", "--set", "kb.enabled=true", "-n", "ai")
    assert out.returncode == 0, out.stderr
    assert "CustomResourceDefinition" not in out.stdout          # as helm template: only with --include-crds
    assert "kind: DaemonSet" in out.stdout and "name: kb" in out.stdout and "namespace: ai" in out.stdout
    bad = _sedna(tmp_path, "install-chart", str(CHART), "--dry-run", "--set", "gm.logFormat=xml")
    assert bad.returncode == 1 and "/gm/logFormat" in bad.stderr
    values = tmp_path / "v.yaml"
    values.write_text("- not a mapping\n")
    bad = _sedna(tmp_path, "install-chart", str(CHART), "--dry-run", "-f", str(values))
    assert bad.returncode == 1 and "expected a mapping" in bad.stderr


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_helm_e2e_script_runs_the_example_through_the_charts_gm_and_lc(tmp_path):
    """Acceptance: hack/helm-e2e.sh exits 0: chart rendered by Helm's engine → applied on `up --bare` → GM
    and LC pods from the chart's manifests → the JI example's CR shows its inference and hard-example counts."""
    data_dir = tmp_path / "cluster"
    env = dict(os.environ, SEDNA_LOCAL_DIR=str(data_dir))
    proc = subprocess.run(["bash", str(REPO / "hack" / "helm-e2e.sh"), "--frames", "4", "--timeout", "150",
                           "--cluster-cidr", f"127.{random.randint(100, 250)}.0.0/16", "--lc-port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=380, check=False, cwd=REPO)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    assert "helm-e2e: OK" in out
    assert "DaemonSet   on edge-node" in out and "ReplicaSet  on cloud-node" in out
    assert "image sedna/gm:" in out and "image sedna/lc:" in out
    assert "jointinferenceservice/helmet-detection-inference-example: inferenceNumber 4, hardExampleNumber" in out
    # torn down: no cluster state left running
    state = data_dir / "state.json"
    assert not state.exists() or not json.loads(state.read_text()).get("ready")
