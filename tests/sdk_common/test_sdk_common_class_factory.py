"""ClassFactory and ClassType (sdk.md §2), plus import-time config/logging in a real subprocess (§1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sedna.common.class_factory import ClassFactory, ClassType

REPO = Path(__file__).resolve().parents[2]


def test_class_type_values():
    assert ClassType.GENERAL == "general"
    assert ClassType.HEM == "hard_example_mining"
    assert ClassType.FL_AGG == "aggregation"
    assert ClassType.MTL == "multi_task_learening"  # sic, as upstream
    assert ClassType.UTD == "unseen_task_detect"
    assert ClassType.OF == "optical_flow"
    assert ClassType.ALGORITHM == "algorithm"
    assert ClassType.DATASET == "data_process"
    assert ClassType.CALLBACK == "post_process_callback"
    assert ClassType.UTP == "unseen_task_processing"
    assert ClassType.KM == "knowledge_management"
    assert ClassType.STP == "seen_task_processing"


def test_register_decorator_alias_and_lookup():
    @ClassFactory.register(ClassType.CALLBACK)
    class SdkCommonPostA:
        pass

    @ClassFactory.register(ClassType.CALLBACK, alias="sdk_common_post_b")
    class SdkCommonPostB:
        pass

    assert ClassFactory.get_cls(ClassType.CALLBACK, "SdkCommonPostA") is SdkCommonPostA
    assert ClassFactory.get_cls(ClassType.CALLBACK, "sdk_common_post_b") is SdkCommonPostB
    assert ClassFactory.is_exists(ClassType.CALLBACK, "sdk_common_post_b")
    assert ClassFactory.is_exists(ClassType.CALLBACK)
    assert not ClassFactory.is_exists(ClassType.CALLBACK, "SdkCommonPostB")
    assert not ClassFactory.is_exists("sdk-common-no-such-type")


def test_get_cls_errors():
    with pytest.raises(ValueError, match="sdk_common_missing"):
        ClassFactory.get_cls(ClassType.CALLBACK, "sdk_common_missing")
    with pytest.raises(ValueError):
        ClassFactory.get_cls(ClassType.CALLBACK, None)


def test_reregistering_overwrites():
    def first():
        return 1

    def second():
        return 2

    ClassFactory.register_cls(first, ClassType.GENERAL, alias="sdk_common_dup")
    ClassFactory.register_cls(second, ClassType.GENERAL, alias="sdk_common_dup")
    assert ClassFactory.get_cls(ClassType.GENERAL, "sdk_common_dup")() == 2


def test_register_from_package_takes_public_classes_and_functions():
    module = types.ModuleType("sdk_common_fake_pkg")

    class Public:
        pass

    def helper():
        return "h"

    module.Public = Public
    module.helper = helper
    module._Hidden = type("_Hidden", (), {})
    module.CONSTANT = 3
    ClassFactory.register_from_package(module, type_name="sdk_common_pkg_type")
    assert ClassFactory.get_cls("sdk_common_pkg_type", "Public") is Public
    assert ClassFactory.get_cls("sdk_common_pkg_type", "helper") is helper
    assert not ClassFactory.is_exists("sdk_common_pkg_type", "_Hidden")
    assert not ClassFactory.is_exists("sdk_common_pkg_type", "CONSTANT")


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"JOB_NAME", "LOG_LEVEL", "PARAMETERS", "POD_IP"}}
    clean.update(env)
    clean["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60,
                          check=False)


def test_env_read_at_import_in_worker_process(tmp_path):
    params = tmp_path / "hyper.yaml"
    params.write_text("learning_rate: 0.01\nbatch_size: 32\n")
    code = (
        "import json, os\n"
        "from sedna.common.config import BaseConfig\n"
        "from sedna.common.log import LOGGER\n"
        "from sedna.common.utils import get_host_ip\n"
        "os.environ['WORKER_NAME'] = 'changed-later'\n"  # read once at import: not seen
        "c = BaseConfig()\n"
        "LOGGER.debug('debug-line')\n"
        "print(json.dumps({'worker': c.worker_name, 'param': c.parameter, 'logger': LOGGER.name,\n"
        "                  'propagate': LOGGER.propagate, 'ip': get_host_ip()}))\n"
    )
    proc = _run(code, {"JOB_NAME": "surface-defect", "LOG_LEVEL": "debug", "WORKER_NAME": "w-0",
                       "PARAMETERS": str(params), "POD_IP": "127.0.0.42"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"worker": "w-0", "param": {"learning_rate": 0.01, "batch_size": 32},
                   "logger": "surface-defect", "propagate": False, "ip": "127.0.0.42"}
    assert "debug-line" in proc.stderr and "\033[" not in proc.stderr  # stderr is a pipe: no colour


def test_bad_parameters_fail_with_named_error():
    proc = _run("from sedna.common.config import BaseConfig\nBaseConfig()\n", {"PARAMETERS": "{not json"})
    assert proc.returncode != 0 and "ParametersError" in proc.stderr and "PARAMETERS" in proc.stderr
