"""Cloud worker of the helmet-detection JointInferenceService: serves the big model.

Env (injected by the GM): ``MODEL_URL`` (big model file), ``BIG_MODEL_BIND_PORT`` (5000), ``SERVICE_NAME``,
``NAMESPACE``, ``WORKER_NAME``; optional ``BIG_MODEL_BIND_IP`` (default: this host's IP) and
``SEDNA_INFERENCE_TOKEN``.
"""

from __future__ import annotations

from interface import Estimator

from sedna.common.log import LOGGER
from sedna.core.joint_inference import BigModelService


def run():
    service = BigModelService(estimator=Estimator)
    LOGGER.info("big model service %s starting on %s:%s", service.job_name, service.local_ip, service.port)
    service.start()


if __name__ == "__main__":
    run()
