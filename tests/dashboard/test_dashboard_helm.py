"""The chart's optional dashboard (no helm binary here): off by default, read-only RBAC, token required, and
every ``.Values.dashboard`` path the template uses exists."""

import re
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "sedna"


def test_dashboard_is_optional_read_only_and_authenticated():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["dashboard"]["enabled"] is False
    text = (CHART / "templates" / "dashboard.yaml").read_text()
    assert text.lstrip().startswith("{{- if .Values.dashboard.enabled }}")
    assert "SEDNA_DASHBOARD_TOKEN" in text and "--host=0.0.0.0" in text
    role = text.split("kind: ClusterRole\n", 1)[1].split("---", 1)[0]
    assert set(re.findall(r"verbs: \[([^\]]*)\]", role)) == {"get, list, watch", "get"}
    assert "pods/log" in role and "events" in role
    for ref in set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text)):
        node = values
        for part in ref.split("."):
            assert isinstance(node, dict) and part in node, ref
            node = node[part]
