"""Edge-cloud joint inference: ``JointInference`` (edge) and ``BigModelService`` (cloud)."""

from sedna.core.joint_inference.joint_inference import BigModelService, JointInference

__all__ = ["BigModelService", "JointInference"]
