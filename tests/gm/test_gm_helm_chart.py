"""Structure of the Helm chart (no helm binary here): files parse, CRDs are the generated ones, every
``.Values`` path used by a template exists, and the pieces gm.md §7 / gm-lc-protocol §1 ask for are there."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "sedna"


def test_chart_files_parse_and_crds_link_to_generated():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "sedna"
    yaml.safe_load((CHART / "values.yaml").read_text())
    crds = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert crds == sorted(p.name for p in (REPO / "deploy" / "crds").glob("*.yaml"))
    assert len(crds) == 11


def _lookup(values, dotted):
    node = values
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, dotted
        node = node[part]


def test_every_values_reference_exists():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    refs = set()
    for tpl in (CHART / "templates").iterdir():
        refs |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", tpl.read_text()))
    assert refs
    for ref in refs:
        _lookup(values, ref)


def test_required_pieces():
    text = {p.name: p.read_text() for p in (CHART / "templates").iterdir()}
    gm, lc, rbac = text["gm.yaml"], text["lc.yaml"], text["gm-rbac.yaml"]
    assert "name: gm-config" in text["gm-config.yaml"] and "gm.yaml: |" in text["gm-config.yaml"]
    assert "name: tcp-0" in gm and "node-role.kubernetes.io/edge" in gm and "/healthz" in gm
    assert "hostNetwork: true" in lc and "ClusterFirstWithHostNet" in lc and "mountPath: /rootfs" in lc
    assert "fieldPath: spec.nodeName" in lc and "GM_ADDRESS" in lc
    assert 'include "sedna.tokenEnv"' in gm and 'include "sedna.nodeTokenEnv"' in lc   # GM secret; node token
    for needed in ("horizontalpodautoscalers", "deployments", "pods", "events", "secrets"):
        assert needed in rbac
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["channelToken"]["enabled"] is True          # channel auth on by default
