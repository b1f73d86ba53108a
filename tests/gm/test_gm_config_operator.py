"""Config parsing, the ``sedna gm`` entry point's error exits, and the operator's pure helpers."""

import asyncio
import subprocess
import sys

import pytest

from sedna.gm.config import ConfigError, load_config, parse_config
from sedna.gm.kopfstate import NoDiffBase
from sedna.gm.kube import Connection, KubeClient
from sedna.gm.operator import GlobalManager, build_registry


def test_defaults_and_keys(tmp_path):
    cfg = parse_config({}, env={})
    assert (cfg.websocket_address, cfg.websocket_port, cfg.lc_server, cfg.kb_server) == (
        "0.0.0.0", 9000, "http://localhost:9100", "http://localhost:9020")
    assert cfg.namespace == "" and cfg.min_resync_period_seconds == 30 and cfg.websocket_token == ""
    kc = tmp_path / "kc"
    kc.write_text("x")
    cfg = parse_config({"kubeConfig": str(kc), "master": "http://m", "namespace": "ns",
                        "websocket": {"address": "127.0.0.1", "port": 1234, "token": "t"},
                        "localController": {"server": "http://lc:1"}, "knowledgeBaseServer": {"server": "http://kb"},
                        "minResyncPeriodSeconds": 5, "metrics": {"port": 0}, "peering": "sedna"}, env={})
    assert (cfg.kube_config, cfg.master, cfg.namespace, cfg.websocket_port, cfg.websocket_token) == (
        str(kc), "http://m", "ns", 1234, "t")
    assert (cfg.lc_server, cfg.kb_server, cfg.min_resync_period_seconds, cfg.peering) == (
        "http://lc:1", "http://kb", 5, "sedna")


def test_token_from_env_and_errors(tmp_path):
    assert parse_config({}, env={"SEDNA_CHANNEL_TOKEN": "abc"}).websocket_token == "abc"
    assert parse_config({"websocket": {"token": "cfg"}}, env={"SEDNA_CHANNEL_TOKEN": "abc"}).websocket_token == "cfg"
    with pytest.raises(ConfigError, match="websocket.port"):
        parse_config({"websocket": {"port": "nine"}}, env={})
    with pytest.raises(ConfigError, match="kubeConfig"):
        parse_config({"kubeConfig": str(tmp_path / "missing")}, env={})
    with pytest.raises(ConfigError, match="minResyncPeriodSeconds"):
        parse_config({"minResyncPeriodSeconds": 0}, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_bind_addresses_from_the_environment():
    doc = {"websocket": {"address": "$(POD_IP)"}, "metrics": {"address": "$(POD_IP)"}}
    cfg = parse_config(doc, env={"POD_IP": "127.5.16.3"})
    assert (cfg.websocket_address, cfg.metrics_address) == ("127.5.16.3", "127.5.16.3")
    assert parse_config({"websocket": {"address": "10.0.0.1"}}, env={}).websocket_address == "10.0.0.1"
    with pytest.raises(ConfigError, match="'websocket.address'.*POD_IP"):
        parse_config(doc, env={})


def test_cli_exits_clearly_without_config(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sedna", "gm", "--config", str(tmp_path / "none.yaml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr


def _gm():
    return GlobalManager(parse_config({}, env={}), KubeClient(Connection("http://127.0.0.1:9")))


def test_child_events_enqueue_the_owner_and_dependants():
    async def run():
        gm = _gm()
        gm.on_child_event({"metadata": {"namespace": "ns", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": True},
            {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob", "name": "fl", "controller": True}]}})
        gm.on_child_event({"metadata": {"ownerReferences": [
            {"apiVersion": "sedna.io/v1alpha1", "kind": "Unknown", "name": "x", "controller": True}]}})
        assert list(gm._queued) == [("federatedlearningjob", "ns", "fl")]
        # a pod of one of our Deployments is owned by a ReplicaSet: found by its worker labels
        gm.on_child_event({"metadata": {"namespace": "ns", "labels": {
            "featureextractionservice.sedna.io/name": "fe", "app": "x"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": True}]}})
        assert ("featureextractionservice", "ns", "fe") in gm._queued
        gm.enqueue(("federatedlearningjob", "ns", "fl"))          # deduplicated while queued
        assert gm._queue.qsize() == 2
        job = {"metadata": {"name": "j", "namespace": "ns"}, "spec": {
            "dataset": {"name": "ds"}, "initialModel": {"name": "m0"}, "deploySpec": {"model": {"name": "m1"}}}}
        gm.store["incrementallearningjob"][("ns", "j")] = job
        deps = gm.dependants("dataset", {"metadata": {"name": "ds", "namespace": "ns"}})
        assert [(c.kind, d["metadata"]["name"]) for c, d in deps] == [("IncrementalLearningJob", "j")]
        assert gm.dependants("model", {"metadata": {"name": "m1", "namespace": "other"}}) == []
        await gm.kube.close()
    asyncio.run(run())


def test_registry_covers_every_kind():
    async def run():
        gm = _gm()
        registry = build_registry(gm)
        ids = {h.id for h in registry._watching.get_all_handlers()}
        for ctrl in gm.controllers.values():
            assert f"event-{ctrl.plural}" in ids
        assert not any(i.startswith("child-") for i in ids), "children are watched by gm.children"
        # no change-driven handlers: with one, kopf would keep a finalizer of its own (the GM keeps its own)
        assert not list(registry._changing.get_all_handlers())
        await gm.kube.close()
    asyncio.run(run())


def test_delayed_enqueue_keeps_one_timer_per_key():
    async def run():
        gm = _gm()
        key = ("jointinferenceservice", "ns", "a")
        for _ in range(5):
            gm.enqueue(key, 30)
        assert len(gm._timers) == 1
        first = gm._timers[key].when()
        gm.enqueue(key, 0.05)                 # an earlier retry replaces the later one
        assert len(gm._timers) == 1 and gm._timers[key].when() < first
        await asyncio.sleep(0.2)
        assert gm._timers == {} and gm._queue.qsize() == 1
        await gm.kube.close()
    asyncio.run(run())


def test_event_manifest_validates():
    import sys
    from datetime import datetime, timezone
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from gm_testlib import validate

    from sedna.gm.operator import event_manifest

    obj = {"metadata": {"name": "job", "namespace": "ns", "uid": "u", "resourceVersion": "7"}}
    ev = event_manifest("FederatedLearningJob", obj, "Warning", "workerFailed", "x" * 5000,
                        datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert ev["involvedObject"] == {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob",
                                    "name": "job", "namespace": "ns", "uid": "u", "resourceVersion": "7"}
    assert len(ev["message"]) == 1024 and ev["firstTimestamp"] == "2026-01-01T00:00:00Z"
    validate(ev)


def test_events_that_change_nothing_relevant_do_not_sync():
    from sedna.gm.operator import _relevant

    async def run():
        gm = _gm()
        key = ("reidjob", "ns", "r")
        body = {"metadata": {"name": "r", "namespace": "ns", "uid": "u", "generation": 1, "resourceVersion": "1"},
                "spec": {"template": {}}}

        def drain():
            out = list(gm._queued)
            gm._queued.clear()
            while not gm._queue.empty():
                gm._queue.get_nowait()
            return out

        await gm.on_cr_event("reidjobs", "ADDED", body)
        assert drain() == [key]
        kopf_only = {**body, "metadata": {**body["metadata"], "resourceVersion": "2", "finalizers": ["x"],
                                          "annotations": {"gm.sedna.io/last-handled-configuration": "{}"}}}
        await gm.on_cr_event("reidjobs", "MODIFIED", kopf_only)
        assert drain() == []
        ours = {**kopf_only, "status": {"phase": "Running"}}
        gm._own_writes[key] = _relevant(ours)
        await gm.on_cr_event("reidjobs", "MODIFIED", ours)
        assert drain() == [] and key not in gm._own_writes
        theirs = {**ours, "status": {"phase": "Running", "active": 1}}
        await gm.on_cr_event("reidjobs", "MODIFIED", theirs)
        assert drain() == [key]
        await gm.on_cr_event("reidjobs", "DELETED", theirs)
        assert gm.store["reidjob"] == {}
        await gm.kube.close()
    asyncio.run(run())


def test_startup_settings_standalone_and_peering():
    import kopf

    async def run(peering):
        gm = GlobalManager(parse_config({"peering": peering}, env={}),
                           KubeClient(Connection("http://127.0.0.1:9")))
        registry = build_registry(gm)
        startup = next(h for h in registry._activities.get_all_handlers() if h.id.endswith("configure"))
        settings = kopf.OperatorSettings()
        await startup.fn(settings=settings)
        await gm.kube.close()
        return settings, gm

    settings, gm = asyncio.run(run(""))
    assert settings.peering.standalone is True and settings.posting.enabled is False
    assert settings.persistence.finalizer != "sedna.io/lc-cleanup"    # kopf must never release the GM's finalizer
    # no diff base: kopf writes no last-handled-configuration (the GM has no change-driven kopf handlers)
    assert isinstance(settings.persistence.diffbase_storage, NoDiffBase)
    assert settings.batching.worker_limit is None and gm.health.ready is True
    settings, _ = asyncio.run(run("sedna-gm"))
    assert settings.peering.standalone is False and settings.peering.name == "sedna-gm"
    assert settings.peering.mandatory is True and settings.peering.clusterwide is True


def test_insecure_nodes_from_config_or_env():
    assert parse_config({}, env={}).insecure_nodes == frozenset()
    assert parse_config({"auth": {"insecureNodes": ["edge-a", "edge-b"]}},
                        env={}).insecure_nodes == {"edge-a", "edge-b"}
    assert parse_config({}, env={"SEDNA_GM_INSECURE_NODES": "edge-a, edge-c,"}).insecure_nodes == \
        {"edge-a", "edge-c"}
    with pytest.raises(ConfigError, match="auth.insecureNodes"):
        parse_config({"auth": {"insecureNodes": "edge-a"}}, env={})
