"""JointInference (edge) + BigModelService (cloud) in process, with a recording LC."""

from __future__ import annotations

import numpy as np
import pytest
from sdk_inference_support import (
    ScaleEstimator,
    free_port,
    sdk_env,
    wait_for,
    write_model,
)
from support_config import restore_config_fixture  # noqa: F401 - autouse
from support_http import lc_fixture  # noqa: F401 - the lc fixture

from sedna.core.joint_inference import BigModelService, JointInference

pytestmark = pytest.mark.timeout(90)

HEM_ENV = '[{"key": "threshold", "value": "0.5"}]'


def start_big(monkeypatch, tmp_path, port=0):
    big_model = write_model(tmp_path / "big.json", scale=10.0, tag=9)
    sdk_env(monkeypatch, SERVICE_NAME="helmet-ji", NAMESPACE="default", WORKER_NAME="cloudworker-abcde",
            MODEL_URL=big_model, BIG_MODEL_BIND_IP="127.0.0.1", BIG_MODEL_BIND_PORT=port)
    service = BigModelService(estimator=ScaleEstimator)
    return service, service.start_background()


def make_edge(monkeypatch, tmp_path, lc_url, big_port, **extra):
    little = write_model(tmp_path / "little.json", scale=1.0, tag=1)
    env = {"SERVICE_NAME": "helmet-ji", "NAMESPACE": "default", "WORKER_NAME": "edgeworker-abcde",
           "MODEL_URL": little, "BIG_MODEL_IP": "127.0.0.1", "BIG_MODEL_PORT": big_port, "LC_SERVER": lc_url,
           "LC_PERIOD": "0.1", "HEM_NAME": "Threshold", "HEM_PARAMETERS": HEM_ENV, "MODEL_CLIENT_TIMEOUT": "2"}
    env.update(extra)
    sdk_env(monkeypatch, **env)
    return JointInference(estimator=ScaleEstimator)


EASY = np.full((4, 4, 3), 0.9)   # score 0.9 -> not hard
HARD = np.full((4, 4, 3), 0.1)   # score 0.1 -> hard


def test_joint_inference_offloads_hard_examples_and_reports(monkeypatch, tmp_path, lc):
    lc_server, records = lc
    _service, server = start_big(monkeypatch, tmp_path)
    try:
        assert server.url.endswith("/helmet-ji")  # served under the service name, not "sedna"
        ji = make_edge(monkeypatch, tmp_path, lc_server.url, server.port)
        is_hard, res, edge, cloud = ji.inference(EASY)
        assert (is_hard, cloud) == (False, None) and res == edge and res[0][5] == 1.0
        is_hard, res, edge, cloud = ji.inference(HARD, post_process=lambda r: r)
        assert is_hard is True
        assert edge[0][4] == pytest.approx(0.1)
        assert cloud == res and cloud[0][5] == 9.0 and cloud[0][4] == pytest.approx(1.0)
        assert ji.cloud._server_npy is True  # the image went as npy
        ji.inference(HARD.tolist())  # a list goes as JSON
        assert wait_for(lambda: records and records[-1]["ownerInfo"]["inferenceNumber"] == 3)
        report = records[-1]
        assert report["ownerName"] == "helmet-ji" and report["ownerKind"] == "jointinferenceservice"
        assert report["name"] == "edgeworker-abcde" and report["kind"] == "inference"
        assert report["ownerInfo"]["hardExampleNumber"] == 2
        assert report["ownerInfo"]["uploadCloudRatio"] == pytest.approx(2 / 3)
        assert report["ownerInfo"]["failedOffloadNumber"] == 0
        ji.close()
    finally:
        server.stop()


def test_crashed_big_model_edge_results_continue(monkeypatch, tmp_path, lc):
    lc_server, records = lc
    _service, server = start_big(monkeypatch, tmp_path)
    ji = make_edge(monkeypatch, tmp_path, lc_server.url, server.port)
    assert ji.inference(HARD)[3] is not None
    server.stop()
    results = [ji.inference(HARD) for _ in range(6)]
    for is_hard, res, edge, cloud in results:
        assert is_hard is True and cloud is None and res == edge
    assert ji.failed_offload_number == 6
    assert ji.inference(EASY)[0] is False
    assert wait_for(lambda: records and records[-1]["ownerInfo"]["failedOffloadNumber"] == 6)
    assert records[-1]["ownerInfo"]["inferenceNumber"] == 8
    # the big model comes back on the same port: offloading resumes after the cool-down
    monkeypatch.setenv("MODEL_CLIENT_COOLDOWN", "0")
    ji.cloud.cooldown = 0
    ji.cloud._open_until = 0
    _, server2 = start_big(monkeypatch, tmp_path, port=server.port)
    try:
        assert wait_for(lambda: ji.inference(HARD)[3] is not None, timeout=10, interval=0.1)
    finally:
        server2.stop()
        ji.close()


def test_mining_then_inference_and_bad_mode(monkeypatch, tmp_path, lc):
    lc_server, _ = lc
    _service, server = start_big(monkeypatch, tmp_path)
    try:
        ji = make_edge(monkeypatch, tmp_path, lc_server.url, server.port, MINING_MODE="mining-then-inference",
                       HEM_NAME="CloudOnly", HEM_PARAMETERS="")
        is_hard, res, edge, cloud = ji.inference(EASY)
        assert is_hard is True and edge is None and cloud == res and set(cloud) == {"result"}
        monkeypatch.setenv("MINING_MODE", "sideways")
        with pytest.raises(ValueError, match="sideways"):
            ji.inference(EASY)
        ji.close()
        ji2 = make_edge(monkeypatch, tmp_path, lc_server.url, server.port, MINING_MODE="mining-then-inference",
                        HEM_NAME="", HEM_PARAMETERS="")
        assert ji2.hard_example_mining_algorithm is None
        with pytest.raises(ValueError, match="hard example mining"):
            ji2.inference(EASY)
        ji2.close()
    finally:
        server.stop()


def test_hem_from_config_and_explicit(monkeypatch, tmp_path, lc):
    lc_server, _ = lc
    sdk_env(monkeypatch, HEM_NAME="IBT", HEM_PARAMETERS='[{"key":"threshold_img","value":"0.9"}]')
    assert JointInference.get_hem_algorithm_from_config(threshold_box=0.8) == {
        "method": "IBT", "param": {"threshold_img": "0.9", "threshold_box": 0.8}}
    ji = make_edge(monkeypatch, tmp_path, lc_server.url, free_port(), HEM_NAME="IBT",
                   HEM_PARAMETERS='[{"key":"threshold_img","value":"0.9"},{"key":"threshold_box","value":"0.7"}]')
    hem = ji.hard_example_mining_algorithm
    assert (type(hem).__name__, hem.threshold_img, hem.threshold_box) == ("IBTFilter", 0.9, 0.7)
    ji.close()
    ji3 = JointInference(estimator=ScaleEstimator, hard_example_mining={"method": "Threshold",
                                                                        "param": '{"threshold": "0.2"}'})
    assert ji3.hard_example_mining_algorithm.threshold == 0.2
    ji3.close()


def test_missing_model_raises(monkeypatch, tmp_path, lc):
    lc_server, _ = lc
    sdk_env(monkeypatch, SERVICE_NAME="x", MODEL_URL=str(tmp_path / "nope.json"), LC_SERVER=lc_server.url)
    with pytest.raises(FileExistsError):
        JointInference(estimator=ScaleEstimator)
    with pytest.raises(FileExistsError):
        BigModelService(estimator=ScaleEstimator).start()


def test_rejected_offload_is_counted_not_raised(monkeypatch, tmp_path, lc):
    """A cloud that answers 413 (frame too big for it) is a failed offload: the edge result is used."""
    from sedna.service.server import InferenceServer

    lc_server, _ = lc
    sdk_env(monkeypatch, SERVICE_NAME="helmet-ji", MODEL_URL=write_model(tmp_path / "big.json", 10.0, tag=9))
    service = BigModelService(estimator=ScaleEstimator)
    service._load_model()
    small = InferenceServer(service, "helmet-ji", http_port=0, max_buffer_size=1000).start_background()
    try:
        ji = make_edge(monkeypatch, tmp_path, lc_server.url, small.port, MODEL_CLIENT_COOLDOWN="0")
        is_hard, res, edge, cloud = ji.inference(np.full((32, 32, 3), 0.1))  # 24 kB of npy > 1000 bytes
        assert is_hard is True and cloud is None and res == edge
        assert "413" in ji.cloud.last_error and ji.failed_offload_number == 1
        assert ji.inference(np.full((2, 2, 3), 0.1))[3][0][5] == 9.0  # a small frame still goes through
        ji.close()
    finally:
        small.stop()


def test_slow_cloud_times_out_to_edge_result(monkeypatch, tmp_path, lc):
    import time

    from sedna.service.server import InferenceServer

    class SlowBig:
        def inference(self, data, post_process=None):
            time.sleep(2)
            return [[0, 0, 1, 1, 1.0, 9.0]]

    lc_server, records = lc
    slow = InferenceServer(SlowBig(), "helmet-ji", http_port=0).start_background()
    try:
        ji = make_edge(monkeypatch, tmp_path, lc_server.url, slow.port, MODEL_CLIENT_TIMEOUT="0.3")
        start = time.monotonic()
        is_hard, res, edge, cloud = ji.inference(HARD)
        assert time.monotonic() - start < 1.5
        assert is_hard is True and cloud is None and res == edge
        assert "Timeout" in ji.cloud.last_error and ji.failed_offload_number == 1
        assert wait_for(lambda: records and records[-1]["ownerInfo"]["failedOffloadNumber"] == 1)
        ji.close()
    finally:
        slow.stop(timeout=5)


def test_big_model_process_killed_mid_stream(monkeypatch, tmp_path, lc):
    """SIGKILL the cloud worker process while the edge is offloading: every request still gets an answer."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    lc_server, records = lc
    port = free_port()
    here = Path(__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEM_", "MODEL_", "BIG_MODEL", "LC_"))}
    env.update({"PYTHONPATH": os.pathsep.join([str(here), str(here.parent / "support")]),
                "SERVICE_NAME": "helmet-ji", "BACKEND_TYPE": "SKLEARN",
                "MODEL_URL": write_model(tmp_path / "big.json", 10.0, tag=9), "BIG_MODEL_BIND_IP": "127.0.0.1",
                "BIG_MODEL_BIND_PORT": str(port)})
    code = ("from sdk_inference_support import ScaleEstimator\n"
            "from sedna.core.joint_inference import BigModelService\n"
            "BigModelService(estimator=ScaleEstimator).start()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/helmet-ji", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, timeout=30, interval=0.1)
        ji = make_edge(monkeypatch, tmp_path, lc_server.url, port, MODEL_CLIENT_COOLDOWN="0")
        answered_by_cloud = sum(ji.inference(HARD)[3] is not None for _ in range(5))
        assert answered_by_cloud == 5
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        results = [ji.inference(HARD) for _ in range(5)]
        assert all(r[3] is None and r[1] == r[2] and r[0] is True for r in results)
        assert ji.failed_offload_number == 5
        assert wait_for(lambda: records and records[-1]["ownerInfo"]["failedOffloadNumber"] == 5)
        ji.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
