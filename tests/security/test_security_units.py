"""Pure pieces of the security design, table-driven: token derivation and checks, the GM's node and report
rules, the env it signs into worker pods, report bounds, the LC's worker check, the aggregator's client ids."""

from __future__ import annotations

import stat
from types import SimpleNamespace

import pytest
from websockets.protocol import State

from sedna.api.messages import WorkerMessage
from sedna.common import jsonbounds, tokens
from sedna.gm.auth import GMAuth, load_secret, report_refused, template_nodes
from sedna.gm.bounds import MAX_CONDITIONS, bound_conditions, check_report
from sedna.gm.config import ConfigError, load_config, parse_config
from sedna.lc.workerauth import WorkerAuth
from sedna.service.server import agg_auth

SECRET = "s"


def test_derived_tokens_differ_per_purpose_and_secret():
    made = {tokens.node_token(SECRET, "a"), tokens.node_token(SECRET, "b"), tokens.node_token("t", "a"),
            tokens.worker_key(SECRET), tokens.kb_token(SECRET),
            tokens.service_token(SECRET, "JointInferenceService", "default", "x"),
            tokens.service_token(SECRET, "jointinferenceservice", "other", "x")}
    assert len(made) == 7
    assert tokens.service_token(SECRET, "FederatedLearningJob", "", "x") == tokens.service_token(
        SECRET, "federatedlearningjob", "default", "x")
    with pytest.raises(tokens.TokenError):
        tokens.node_token("", "a")


def test_worker_token_roundtrip_and_tampering():
    claims = tokens.WorkerClaims("jointinferenceservice", "default", "ji", "edgeworker-1")
    token = tokens.sign_worker("k", claims)
    assert tokens.verify_worker("k", token) == claims
    prefix, body, mac = token.split(".")
    forged_body = tokens.sign_worker("k", tokens.WorkerClaims("jointinferenceservice", "default", "other")).split(".")[1]
    for bad in (tokens.sign_worker("other-key", claims), f"{prefix}.{forged_body}.{mac}", f"{prefix}.{body}.",
                "", "x" * 5000, "swt2." + body + "." + mac, token + "."):
        with pytest.raises(tokens.TokenError):
            tokens.verify_worker("k", bad)


@pytest.mark.parametrize(("node", "header", "ok"), [
    ("edge", f"Bearer {tokens.node_token(SECRET, 'edge')}", True),
    ("edge", f"bearer {tokens.node_token(SECRET, 'edge')}", True),
    ("edge", None, False),
    ("edge", f"Bearer {tokens.node_token(SECRET, 'cloud')}", False),
    ("edge", f"Bearer {SECRET}", False),
    ("edge", f"Basic {tokens.node_token(SECRET, 'edge')}", False),
    ("legacy", None, True),                      # exempt node (auth.insecureNodes)
])
def test_gm_node_check(node, header, ok):
    auth = GMAuth(SECRET, insecure_nodes=["legacy"])
    assert (auth.check_node(node, header) is None) is ok
    assert ("Sedna-Worker-Key" in auth.handshake_headers(node)) is (node != "legacy")


def test_gm_insecure_opt_out_is_loud(caplog):
    auth = GMAuth("", insecure=True)
    assert auth.check_node("any", None) is None and auth.worker_env("k", "ns", "j", "w") == {}
    assert "--insecure" in caplog.text
    with pytest.raises(ConfigError):
        GMAuth("")


def pod(env, owner_kind="FederatedLearningJob", owner="fl", api="sedna.io/v1alpha1"):
    return {"kind": "Pod", "metadata": {"namespace": "ns", "ownerReferences": [
        {"apiVersion": api, "kind": owner_kind, "name": owner, "controller": True}]},
        "spec": {"containers": [{"name": "c", "env": env}]}}


def test_signed_worker_env_names_its_owner_and_worker():
    auth = GMAuth(SECRET)
    user = [{"name": "WORKER_NAME", "value": "trainworker-x"}, {"name": "LC_API_TOKEN", "value": "mine"},
            {"name": "KEEP", "value": "1"}]
    signed = auth.sign_manifest(pod(user))
    env = {e["name"]: e["value"] for e in signed["spec"]["containers"][0]["env"]}
    assert env["KEEP"] == "1" and env["LC_API_TOKEN"] != "mine"
    claims = tokens.verify_worker(tokens.worker_key(SECRET), env["LC_API_TOKEN"])
    assert claims == tokens.WorkerClaims("federatedlearningjob", "ns", "fl", "trainworker-x")
    assert env["AGG_TOKEN"] == env["SEDNA_INFERENCE_TOKEN"] == tokens.service_token(SECRET, "federatedlearningjob",
                                                                                   "ns", "fl")
    assert env["SEDNA_KB_TOKEN"] == tokens.kb_token(SECRET)
    assert pod(user)["spec"]["containers"][0]["env"] == user                          # input not modified
    foreign = pod(user, api="apps/v1", owner_kind="ReplicaSet")
    assert auth.sign_manifest(foreign) == foreign                                      # not our worker
    fe = {e["name"]: e["value"] for e in auth.sign_manifest(pod([], "FeatureExtractionService", "fe"))["spec"][
        "containers"][0]["env"]}
    ra = {e["name"]: e["value"] for e in auth.sign_manifest(pod([], "ReidJob", "reid"))["spec"]["containers"][0]["env"]}
    assert fe["SEDNA_INFERENCE_TOKEN"] == ra["SEDNA_INFERENCE_TOKEN"] != env["SEDNA_INFERENCE_TOKEN"]   # they call each other
    dep = {"kind": "Deployment", "metadata": pod([])["metadata"],
           "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
    assert "LC_API_TOKEN" in {e["name"] for e in auth.sign_manifest(dep)["spec"]["template"]["spec"]["containers"][
        0]["env"]}


@pytest.mark.parametrize(("node", "assigned", "refused"), [
    ("edge", {"edge"}, False), ("cloud", {"edge"}, True), ("edge", set(), True), ("a", {"a", "b"}, False)])
def test_report_node_rule(node, assigned, refused):
    assert (report_refused(node, assigned) is not None) is refused


def test_template_nodes_finds_every_pinned_worker():
    spec = {"spec": {"edgeWorker": {"template": {"spec": {"nodeName": "e"}}},
                     "trainingWorkers": [{"template": {"spec": {"nodeName": "t1"}}}, {"template": {"spec": {}}}],
                     "cloudWorker": {"template": {"spec": {"nodeName": "c"}}}}}
    assert template_nodes(spec) == {"e", "t1", "c"}


@pytest.mark.parametrize(("content", "error"), [
    ({"output": {"ownerInfo": {"updateTime": "x" * 1024}}}, None),
    ({"output": {"ownerInfo": {"updateTime": "x" * 1025}}}, "content.output.ownerInfo.updateTime is 1025 bytes"),
    ({"output": {"models": [{"url": "é" * 600}]}}, "content.output.models[0].url"),
    ({"k" * 2000: 1}, "a key of content"),
    ({"a": [[[[1]]]]}, None),
])
def test_report_bounds(content, error):
    if error is None:
        check_report(content)
    else:
        with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
            check_report(content)


def test_deep_reports_and_conditions_are_bounded():
    deep: dict = {}
    for _ in range(200):
        deep = {"a": deep}
    with pytest.raises(jsonbounds.JSONBoundsError, match="64 levels"):
        check_report(deep)
    st = {"conditions": [{"n": i} for i in range(MAX_CONDITIONS + 10)]}
    assert bound_conditions(st)["conditions"][0] == {"n": 10} and len(st["conditions"]) == MAX_CONDITIONS


def report(**kw):
    doc = {"name": "w1", "namespace": "default", "ownerName": "ji", "ownerKind": "jointinferenceservice"}
    doc.update(kw)
    return WorkerMessage.model_validate(doc)


def test_lc_worker_check(tmp_path):
    auth = WorkerAuth(tmp_path / "key")
    own = "Bearer " + tokens.sign_worker("K", tokens.WorkerClaims("jointinferenceservice", "default", "ji", "w1"))
    assert auth.refuse(own, "w1") == (503, "no worker key yet: the LC has not connected to the GM")
    auth.set_key("K")
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600
    assert WorkerAuth(tmp_path / "key").key == "K"                        # survives an LC restart
    assert auth.refuse(own, "w1") is None and auth.refuse_report(own, report()) is None
    assert auth.refuse(None, "w1")[0] == 401 and auth.refuse("Bearer x", "w1")[0] == 401
    assert auth.refuse_report(own, report(name="w2"))[0] == 403
    assert auth.refuse_report(own, report(ownerName="other"))[0] == 403
    assert auth.refuse_report(own, report(namespace="prod"))[0] == 403
    assert auth.refuse_report(own, report(ownerKind="federatedlearningjob"))[0] == 403
    static = WorkerAuth(None, static_token="op")
    assert static.refuse("Bearer op", "w") is None and static.refuse_report("Bearer op", report()) is None
    assert WorkerAuth(None, insecure=True).refuse(None, "w") is None


def test_gm_secret_file_created_private(tmp_path):
    config = tmp_path / "gm.yaml"
    config.write_text("websocket: {port: 0}\n")
    cfg = load_config(config)
    assert cfg.auth_secret_file == str(tmp_path / "sedna-gm.secret")
    secret = load_secret(cfg)
    assert len(secret) == 64 and stat.S_IMODE((tmp_path / "sedna-gm.secret").stat().st_mode) == 0o600
    assert load_secret(load_config(config)) == secret                      # stable across restarts
    assert parse_config({"websocket": {"token": "old"}}, env={}).auth_secret == "old"
    assert parse_config({}, env={"SEDNA_GM_INSECURE": "true"}).insecure


def ws(state=State.OPEN):
    return SimpleNamespace(state=state)


def test_aggregation_client_id_binding():
    first = SimpleNamespace(client_id="a", ws=ws())
    clients = {"a": first}
    with pytest.raises(agg_auth.SubscribeRefused, match="already connected"):
        agg_auth.check_subscribe(clients, "a", ws(), None)
    agg_auth.check_subscribe(clients, "a", first.ws, first)                # the holder may say hello again
    agg_auth.check_subscribe({"a": SimpleNamespace(client_id="a", ws=ws(State.CLOSED))}, "a", ws(), None)
    with pytest.raises(agg_auth.SubscribeRefused, match="cannot become"):
        agg_auth.check_subscribe(clients, "b", first.ws, first)
    with pytest.raises(agg_auth.SubscribeRefused):
        agg_auth.check_subscribe({}, "x" * 300, ws(), None)
