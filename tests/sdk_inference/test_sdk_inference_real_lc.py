"""JointInference reporting to the real LocalController worker API (token on), checked in the LC's outbox."""

from __future__ import annotations

import numpy as np
import pytest
from sdk_inference_support import AppServer, ScaleEstimator, free_port, sdk_env, wait_for, write_model
from support_config import restore_config_fixture  # noqa: F401 - autouse

from sedna.api.messages import Message
from sedna.core.joint_inference import JointInference

pytestmark = pytest.mark.timeout(60)


def test_ji_reports_reach_the_lc_outbox(monkeypatch, tmp_path):
    from sedna.lc.config import LCConfig
    from sedna.lc.main import LocalController

    config = LCConfig(gm_address=f"127.0.0.1:{free_port()}", node_name="edge-1", rootfs=str(tmp_path),
                      db_path=str(tmp_path / "lc.db"), api_token="lc-secret")
    lc = LocalController(config)
    server = AppServer(lc.app).start()
    try:
        sdk_env(monkeypatch, SERVICE_NAME="helmet-ji", NAMESPACE="default", WORKER_NAME="edgeworker-x1",
                MODEL_URL=write_model(tmp_path / "little.json", 1.0), BIG_MODEL_IP="127.0.0.1",
                BIG_MODEL_PORT=free_port(), LC_SERVER=server.url, LC_PERIOD="0.1", HEM_NAME="Threshold",
                LC_API_TOKEN="lc-secret")
        ji = JointInference(estimator=ScaleEstimator)
        for value in (0.9, 0.9, 0.1):
            ji.inference(np.full(4, value))
        ji.close()

        def frames():
            return [Message.decode(e.frame) for e in lc.outbox.pending_after(0, 100)]

        assert wait_for(lambda: frames(), timeout=10)
        msg = frames()[-1]
        assert msg.header.resource_kind == "jointinferenceservice" and msg.header.operation == "status"
        assert (msg.header.namespace, msg.header.resource_name) == ("default", "helmet-ji")
        info = msg.content["output"]["ownerInfo"]
        assert (info["inferenceNumber"], info["hardExampleNumber"], info["failedOffloadNumber"]) == (3, 1, 1)
        assert msg.content["phase"] == "inference"
    finally:
        server.stop()
