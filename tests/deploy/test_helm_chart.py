"""The Helm chart as Helm renders it (helm-python-sdk embeds Helm's Go engine): strict lint for Kubernetes 1.30,
every manifest valid against the Kubernetes 1.30 OpenAPI, and every documented values toggle doing what
values.yaml says. No cluster is contacted."""

from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest
import yaml
from deploy_support import CHART, K8S_VERSION, REPO, by_kind, container, env, render

import sedna
from sedna.local.chart import ChartError
from sedna.local.helm_e2e import single_machine_values

pytest.importorskip("helm_python", reason="helm-python-sdk (the dev/helm extra) renders the chart")

EDGE = "node-role.kubernetes.io/edge"

# every toggle values.yaml documents, and the single-machine values of `sedna local helm-e2e`
TOGGLES = {
    "default": {},
    "token-off": {"channelToken": {"enabled": False}},
    "token-value": {"channelToken": {"value": "s3cret"}},
    "token-existing-secret": {"channelToken": {"existingSecret": "my-token", "secretKey": "tok"}},
    "kb-enabled": {"kb": {"enabled": True}},
    "image-overrides": {"image": {"gm": {"repository": "reg.example/sedna-gm", "tag": "v9"},
                                  "lc": {"repository": "reg.example/sedna-lc", "tag": "v9"},
                                  "pullPolicy": "Always", "pullSecrets": [{"name": "regcred"}]}},
    "node-selectors": {"gm": {"nodeSelector": {"zone": "cloud"}, "tolerations": [{"key": "x", "operator": "Exists"}]},
                       "lc": {"nodeSelector": {"zone": "edge"}}},
    "lc-everywhere-gm-anywhere": {"lc": {"edgeOnly": False}, "gm": {"cloudOnly": False}},
    "custom-affinity": {"lc": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "lc", "operator": "In", "values": ["yes"]}]}]}}}}},
    "peering": {"gm": {"peering": "sedna", "replicas": 2}},
    "watch-namespace-and-extra-env": {"gm": {"watchNamespace": "jobs", "logFormat": "text"},
                                      "lc": {"extraEnv": [{"name": "LC_DATASET_POLL_SECONDS", "value": "5"}]}},
    "single-machine": single_machine_values(19100),
}


@pytest.fixture(scope="module", params=sorted(TOGGLES))
def rendered(request):
    return request.param, render(TOGGLES[request.param])


def test_lint_is_strictly_clean_for_kubernetes_1_30():
    from helm_python.chart import lint

    result = lint(str(CHART), strict=True, kube_version=f"v{K8S_VERSION}")
    assert result["errors"] == [], result
    assert all(m["severity"] <= 1 for m in result["messages"]), result["messages"]   # info only (no icon)


def test_every_manifest_is_valid_kubernetes_1_30(rendered):
    _, out = rendered
    assert out.manifests
    for obj in out.manifests:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_install_order(rendered):
    _, out = rendered
    kinds = [o["kind"] for o in out.manifests]
    assert kinds.index("ServiceAccount") < kinds.index("ClusterRole") < kinds.index("Service") \
        < kinds.index("DaemonSet") < kinds.index("Deployment")


def test_crds_are_the_generated_ones():
    """Helm installs crds/ untemplated: exactly deploy/crds (generated from sedna.api, checked by tests/api)."""
    out = render()
    generated = sorted((REPO / "deploy" / "crds").glob("*.yaml"))
    assert len(generated) == 11
    assert sorted(out.crd_files) == sorted(p.read_text() for p in generated)


def test_default_install():
    out = render()
    objs = by_kind(out)
    assert set(objs) == {("ServiceAccount", "sedna"), ("Secret", "sedna-channel-token"), ("ConfigMap", "gm-config"),
                         ("ClusterRole", "sedna"), ("ClusterRoleBinding", "sedna"), ("Service", "gm"),
                         ("DaemonSet", "lc"), ("Deployment", "gm")}
    gm, lc = objs[("Deployment", "gm")], objs[("DaemonSet", "lc")]
    version = sedna.__version__
    assert container(gm)["image"] == f"sedna/gm:{version}" and container(lc)["image"] == f"sedna/lc:{version}"
    # gm-lc-protocol §1: host network, host / at /rootfs, NODENAME from the node, GM through its Service
    spec = lc["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["volumes"] == [{"name": "localcontroller", "hostPath": {"path": "/"}}]
    assert env(lc)["GM_ADDRESS"] == "gm.sedna:9000" and env(lc)["NODENAME"] == {"fieldRef": {"fieldPath":
                                                                                        "spec.nodeName"}}
    assert "BIND_ADDRESS" not in env(lc)             # all interfaces: workers use localhost:9100
    # KubeEdge placement: LC on edge nodes (tolerating their taint), GM off them
    assert _required(lc) == [{"key": EDGE, "operator": "Exists"}]
    assert {"key": EDGE, "operator": "Exists"} in spec["tolerations"]
    assert _required(gm) == [{"key": EDGE, "operator": "DoesNotExist"}]
    # auth on by default: the GM secret is generated into the Secret; each LC reads its own node token from
    # its node (provisioned there like a kubelet bootstrap token), never the GM secret
    secret = objs[("Secret", "sedna-channel-token")]
    assert len(base64.b64decode(secret["data"]["token"])) == 40
    assert env(gm)["SEDNA_GM_SECRET"] == {"secretKeyRef": {"name": "sedna-channel-token", "key": "token"}}
    assert env(lc)["SEDNA_CHANNEL_TOKEN_FILE"] == "/rootfs/var/lib/sedna/node-token"
    assert "SEDNA_GM_SECRET" not in env(lc) and "SEDNA_CHANNEL_TOKEN" not in env(lc)
    cfg = yaml.safe_load(objs[("ConfigMap", "gm-config")]["data"]["gm.yaml"])
    assert cfg["websocket"] == {"address": "0.0.0.0", "port": 9000}
    assert cfg["knowledgeBaseServer"]["server"] == "http://kb.sedna:9020"
    assert gm["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "kubectl -n sedna get daemonset lc" in out.notes and "sedna-channel-token" in out.notes


def _required(obj):
    terms = obj["spec"]["template"]["spec"].get("affinity", {}).get("nodeAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms")
    return terms[0]["matchExpressions"] if terms else None


def test_token_toggles():
    off = by_kind(render(TOGGLES["token-off"]))
    assert ("Secret", "sedna-channel-token") not in off
    assert env(off[("Deployment", "gm")])["SEDNA_GM_INSECURE"] == "true"
    assert env(off[("DaemonSet", "lc")])["LC_INSECURE"] == "true"
    given = by_kind(render(TOGGLES["token-value"]))
    assert base64.b64decode(given[("Secret", "sedna-channel-token")]["data"]["token"]) == b"s3cret"
    existing = by_kind(render(TOGGLES["token-existing-secret"]))
    assert ("Secret", "sedna-channel-token") not in existing
    assert env(existing[("Deployment", "gm")])["SEDNA_GM_SECRET"] == {"secretKeyRef": {"name": "my-token",
                                                                                        "key": "tok"}}
    assert "WARNING" in render(TOGGLES["token-off"]).notes


def test_kb_toggle():
    objs = by_kind(render(TOGGLES["kb-enabled"]))
    kb = objs[("Deployment", "kb")]
    assert container(kb)["command"] == ["python", "-m", "sedna.service.server.knowledge_base"]
    assert container(kb)["image"] == f"sedna/gm:{sedna.__version__}"
    assert objs[("Service", "kb")]["spec"]["ports"][0]["port"] == 9020
    assert _required(kb) == [{"key": EDGE, "operator": "DoesNotExist"}]
    own = by_kind(render({"kb": {"enabled": True}, "gm": {"knowledgeBaseServer": "http://kb.example:1"}}))
    assert yaml.safe_load(own[("ConfigMap", "gm-config")]["data"]["gm.yaml"])["knowledgeBaseServer"]["server"] \
        == "http://kb.example:1"
    assert ("Deployment", "kb") not in by_kind(render())


def test_image_and_placement_toggles():
    objs = by_kind(render(TOGGLES["image-overrides"]))
    gm, lc = objs[("Deployment", "gm")], objs[("DaemonSet", "lc")]
    assert container(gm)["image"] == "reg.example/sedna-gm:v9" and container(lc)["image"] == "reg.example/sedna-lc:v9"
    assert container(gm)["imagePullPolicy"] == "Always"
    assert gm["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    objs = by_kind(render(TOGGLES["node-selectors"]))
    assert objs[("Deployment", "gm")]["spec"]["template"]["spec"]["nodeSelector"] == {"zone": "cloud"}
    assert objs[("Deployment", "gm")]["spec"]["template"]["spec"]["tolerations"] == [{"key": "x",
                                                                                        "operator": "Exists"}]
    assert objs[("DaemonSet", "lc")]["spec"]["template"]["spec"]["nodeSelector"] == {"zone": "edge"}
    objs = by_kind(render(TOGGLES["lc-everywhere-gm-anywhere"]))
    assert _required(objs[("DaemonSet", "lc")]) is None and _required(objs[("Deployment", "gm")]) is None
    objs = by_kind(render(TOGGLES["custom-affinity"]))
    assert _required(objs[("DaemonSet", "lc")]) == [{"key": "lc", "operator": "In", "values": ["yes"]}]


def test_peering_and_config_toggles():
    objs = by_kind(render(TOGGLES["peering"]))
    assert objs[("Deployment", "gm")]["spec"]["replicas"] == 2
    assert any("kopf.dev" in r["apiGroups"] for r in objs[("ClusterRole", "sedna")]["rules"])
    assert by_kind(render({"gm": {"replicas": 3}}))[("Deployment", "gm")]["spec"]["replicas"] == 1  # no peering
    objs = by_kind(render(TOGGLES["watch-namespace-and-extra-env"]))
    cfg = yaml.safe_load(objs[("ConfigMap", "gm-config")]["data"]["gm.yaml"])
    assert cfg["namespace"] == "jobs" and cfg["logFormat"] == "text"
    assert env(objs[("DaemonSet", "lc")])["LC_DATASET_POLL_SECONDS"] == "5"
    objs = by_kind(render(TOGGLES["single-machine"]))
    cfg = yaml.safe_load(objs[("ConfigMap", "gm-config")]["data"]["gm.yaml"])
    assert cfg["websocket"]["address"] == cfg["metrics"]["address"] == "$(POD_IP)"
    lc_env = env(objs[("DaemonSet", "lc")])
    assert lc_env["BIND_ADDRESS"] == "$(HOST_IP)" and lc_env["BIND_PORT"] == "19100"
    assert list(lc_env).index("HOST_IP") < list(lc_env).index("BIND_ADDRESS")     # $(HOST_IP) expands


def test_upstream_lc_nodes_become_the_gms_exemption_list():
    from sedna.gm.config import parse_config

    default = yaml.safe_load(by_kind(render())[("ConfigMap", "gm-config")]["data"]["gm.yaml"])
    assert "auth" not in default
    objs = by_kind(render({"gm": {"upstreamLCNodes": ["edge-a", "edge-b"]}}))
    cfg = yaml.safe_load(objs[("ConfigMap", "gm-config")]["data"]["gm.yaml"])
    assert parse_config(cfg, env={}).insecure_nodes == {"edge-a", "edge-b"}


def test_the_release_namespace_is_used_everywhere():
    out = render(namespace="edge-ai")
    for obj in out.manifests:
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "edge-ai", obj["kind"]
    objs = by_kind(out)
    assert env(objs[("DaemonSet", "lc")])["GM_ADDRESS"] == "gm.edge-ai:9000"
    assert objs[("ClusterRoleBinding", "sedna")]["subjects"][0]["namespace"] == "edge-ai"


@pytest.mark.parametrize("values, where", [
    ({"gm": {"websocketPort": "nine"}}, "/gm/websocketPort"),
    ({"gm": {"websocketPort": 70000}}, "/gm/websocketPort"),
    ({"lc": {"edgeonly": True}}, "edgeonly"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"gm": {"logFormat": "xml"}}, "/gm/logFormat"),
    ({"channelToken": {"enabled": "yes"}}, "/channelToken/enabled"),
    ({"kb": {"hostPath": "relative/dir"}}, "/kb/hostPath"),
    ({"lc": {"tolerations": [{"key": "k", "operator": "Maybe"}]}}, "/lc/tolerations/0/operator"),
    ({"gm": {"upstreamLCNodes": "edge-a"}}, "/gm/upstreamLCNodes"),
    ({"dashboard": {"port": 0}}, "/dashboard/port"),
])
def test_values_schema_rejects_bad_values(values, where):
    with pytest.raises(ChartError, match=where):
        render(values)


def test_schema_covers_every_value():
    """values.schema.json forbids unknown keys, so every key of values.yaml must be in it (and vice versa)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def keys(node, prefix=""):
        out = set()
        for k, v in node.items():
            out.add(prefix + k)
            if isinstance(v, dict) and v:
                out |= keys(v, prefix + k + ".")
        return out

    def schema_keys(node, prefix=""):
        out = set()
        for k, v in (node.get("properties") or {}).items():
            out.add(prefix + k)
            if v.get("type") == "object" and v.get("additionalProperties") is False:
                out |= schema_keys(v, prefix + k + ".")
        return out

    in_values = {k for k in keys(values) if k.count(".") < 2 or k.startswith("image.")}
    assert in_values - schema_keys(schema) == set()
    assert {k for k in schema_keys(schema) if k.count(".") < 2} - keys(values) == set()


def test_chart_version_and_app_version_follow_the_package():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == sedna.__version__
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["gm"]["tag"] == values["image"]["lc"]["tag"] == ""       # = appVersion
