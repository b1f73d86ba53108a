"""BaseConfig, Context, LOGGER, constants and utils (sdk.md §1)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from sedna.common import constant
from sedna.common.config import ENV_ATTRIBUTES, BaseConfig, Context, ParametersError, parse_parameters
from sedna.common.log import ColourFormatter, Logger
from sedna.common.utils import get_host_ip, singleton


@pytest.fixture
def fresh_config(monkeypatch):
    """Re-read BaseConfig from a controlled environment; restore the process's afterwards."""
    for _, (var, _) in ENV_ATTRIBUTES.items():
        monkeypatch.delenv(var, raising=False)
    snapshot = dict(vars(BaseConfig))
    yield lambda **env: (_set_env(monkeypatch, env), BaseConfig.reload_from_env())[1]
    for key in list(vars(BaseConfig)):
        if key not in snapshot and not key.startswith("__"):
            delattr(BaseConfig, key)
    for key, value in snapshot.items():
        if not key.startswith("__"):
            setattr(BaseConfig, key, value)


def _set_env(monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_defaults_match_spec_table(fresh_config):
    cfg = fresh_config()
    assert cfg.device_category == "CPU"
    assert cfg.backend_type == "TENSORFLOW"
    assert cfg.lc_server == "http://127.0.0.1:9100"
    assert cfg.data_path_prefix == "/home/data"
    assert cfg.job_name == "sedna"
    assert cfg.pretrained_model_url == "./"
    assert cfg.transmitter == "ws"
    assert cfg.agg_data_path == "./"
    assert cfg.namespace == "" and cfg.worker_name == "" and cfg.service_name == ""
    assert cfg.model_url is None and cfg.train_dataset_url is None and cfg.parameters is None
    assert cfg.s3_endpoint_url == "" and cfg.access_key_id == ""
    assert cfg.parameter is None


def test_env_values_are_read(fresh_config):
    cfg = fresh_config(BACKEND_TYPE="TORCH", MODEL_URL="/m/model.pkl", WORKER_NAME="w1", JOB_NAME="job-a")
    assert (cfg.backend_type, cfg.model_url, cfg.worker_name, cfg.job_name) == (
        "TORCH", "/m/model.pkl", "w1", "job-a")


def test_singleton_and_class_level_mutation(fresh_config):
    cfg = fresh_config()
    assert BaseConfig() is cfg
    assert isinstance(cfg, BaseConfig)
    BaseConfig().from_json({"model_url": "/x", "brand_new": 3})
    assert BaseConfig.model_url == "/x" and cfg.model_url == "/x"
    assert cfg["brand_new"] == 3
    assert cfg.dict()["brand_new"] == 3


def test_get_indexing_update_and_to_json(fresh_config):
    cfg = fresh_config(NAMESPACE="ns")
    assert cfg["missing_attribute"] is None
    assert cfg.get("missing_attribute") == ""
    assert cfg.get("model_url", "fallback") == "fallback"  # None is falsy → default
    assert cfg.get("namespace") == "ns"
    cfg.update(namespace="other", not_an_attribute=1)
    assert cfg.namespace == "other"
    assert "not_an_attribute" not in cfg.dict()
    doc = cfg.to_json()
    assert json.loads(json.dumps(doc))["namespace"] == "other"
    assert "reload_from_env" not in doc and "_singleton_initialised" not in doc


def test_from_json_accepts_json_string_and_rejects_non_mapping(fresh_config):
    fresh_config()
    BaseConfig.from_json('{"model_name": "m.pkl"}')
    assert BaseConfig().model_name == "m.pkl"
    with pytest.raises(TypeError):
        BaseConfig.from_json([1, 2])


def test_parameters_inline_json(fresh_config):
    cfg = fresh_config(PARAMETERS='{"lr": 0.1, "epochs": 3}')
    assert cfg.parameter == {"lr": 0.1, "epochs": 3}


def test_parameters_yaml_json_files(tmp_path, fresh_config):
    (tmp_path / "p.yaml").write_text("lr: 0.5\nlayers: [1, 2]\n")
    (tmp_path / "p.yml").write_text("a: b\n")
    (tmp_path / "p.json").write_text('{"k": [1]}')
    assert fresh_config(PARAMETERS=str(tmp_path / "p.yaml")).parameter == {"lr": 0.5, "layers": [1, 2]}
    assert fresh_config(PARAMETERS=str(tmp_path / "p.yml")).parameter == {"a": "b"}
    assert fresh_config(PARAMETERS=str(tmp_path / "p.json")).parameter == {"k": [1]}


def test_parameters_local_python_file_is_executed(tmp_path):
    script = tmp_path / "params.py"
    script.write_text("import math\nbatch = 4 * 2\n_private = 1\n")
    out = parse_parameters(str(script))
    assert out["batch"] == 8 and out["_private"] == 1 and "__name__" not in out


def test_parameters_remote_python_file_is_refused():
    with pytest.raises(ParametersError, match="remote"):
        parse_parameters("http://127.0.0.1:1/evil.py")
    with pytest.raises(ParametersError, match="remote"):
        parse_parameters("s3://bucket/evil.py")


@pytest.mark.parametrize("value", ["not json", "{broken", "/no/such/file.yaml", "/no/such/file.py"])
def test_parameters_malformed_raise_named_error(value):
    with pytest.raises(ParametersError, match="PARAMETERS"):
        parse_parameters(value)


def test_parameters_bad_yaml_content(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(ParametersError, match="does not parse"):
        parse_parameters(str(bad))


def test_context_get_parameters(monkeypatch):
    monkeypatch.setenv("MODEL_POLL_PERIOD_SECONDS", "20")
    monkeypatch.setenv("EMPTY_ONE", "")
    monkeypatch.delenv("operator", raising=False)
    monkeypatch.setenv("OPERATOR", "<")
    assert Context.get_parameters("MODEL_POLL_PERIOD_SECONDS") == "20"
    assert Context.get_parameters("operator") == "<"  # falls back to upper case
    assert Context.get_parameters("EMPTY_ONE", "d") == "d"
    assert Context.get_parameters("SURELY_UNSET_VAR_123") is None


def test_get_algorithm_from_api(monkeypatch):
    monkeypatch.setenv("HEM_NAME", "IBT")
    monkeypatch.setenv("HEM_PARAMETERS", json.dumps(
        [{"key": "threshold_img", "value": "0.9"}, {"key": "threshold_box", "value": "0.5"}, {"key": "x"}]))
    assert Context.get_algorithm_from_api("HEM") == {
        "method": "IBT", "param": {"threshold_img": "0.9", "threshold_box": "0.5", "x": ""}}
    assert Context.get_algorithm_from_api("HEM", threshold_img=0.1)["param"]["threshold_img"] == 0.1


@pytest.mark.parametrize("raw", [None, "", "not json", '{"key": "a"}', '[{"value": 1}]', "[1, 2]", "null"])
def test_get_algorithm_from_api_malformed_params_give_empty(monkeypatch, raw):
    monkeypatch.setenv("HEM_NAME", "Threshold")
    if raw is None:
        monkeypatch.delenv("HEM_PARAMETERS", raising=False)
    else:
        monkeypatch.setenv("HEM_PARAMETERS", raw)
    assert Context.get_algorithm_from_api("HEM") == {"method": "Threshold", "param": {}}
    assert Context.get_algorithm_from_api("HEM", k=1) == {"method": "Threshold", "param": {"k": 1}}


def test_get_algorithm_from_api_without_name(monkeypatch):
    monkeypatch.delenv("HEM_NAME", raising=False)
    monkeypatch.setenv("HEM_PARAMETERS", '[{"key": "a", "value": "b"}]')
    assert Context.get_algorithm_from_api("HEM") == {}


def test_get_host_ip_prefers_pod_ip(monkeypatch):
    monkeypatch.setenv("POD_IP", "127.0.0.7")
    assert get_host_ip() == "127.0.0.7"
    monkeypatch.delenv("POD_IP")
    ip = get_host_ip()
    assert ip.count(".") == 3 and all(0 <= int(p) <= 255 for p in ip.split("."))


def test_singleton_decorator_keeps_class_and_inits_once():
    calls = []

    @singleton
    class Thing:
        def __init__(self, value=0):
            calls.append(value)
            self.value = value

    a, b = Thing(1), Thing(2)
    assert a is b and isinstance(a, Thing) and a.value == 1 and calls == [1]


def test_logger_named_level_non_propagating_no_colour_off_tty():
    stream = io.StringIO()
    logger = Logger(name="sdk-common-test-job", level="warning", stream=stream).logger
    assert logger.name == "sdk-common-test-job" and logger.level == logging.WARNING
    assert logger.propagate is False
    logger.info("hidden")
    logger.warning("shown")
    text = stream.getvalue()
    assert "shown" in text and "hidden" not in text and "\033[" not in text


def test_colour_formatter_adds_ansi():
    record = logging.LogRecord("n", logging.ERROR, __file__, 1, "boom", None, None)
    assert ColourFormatter("%(message)s").format(record) == "\033[31mboom\033[0m"


def test_constants_values():
    assert constant.K8sResourceKind.INCREMENTAL_JOB.value == "incrementallearningjob"
    assert constant.K8sResourceKind.JOINT_INFERENCE_SERVICE.value == "jointinferenceservice"
    assert {m.value for m in constant.K8sResourceKindStatus} == {"completed", "failed", "running"}
    assert constant.KBResourceConstant.MIN_TRAIN_SAMPLE.value == 10
    assert constant.KBResourceConstant.EDGE_KB_DIR.value == "/var/lib/sedna/kb"
    assert len(constant.K8sResourceKind) == 8 and len(constant.KBResourceConstant) == 8
