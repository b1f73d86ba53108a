"""``sedna local example run joint-inference-helmet`` headless: to the end, then again on the same cluster."""

from __future__ import annotations

import pytest
from examples_support import down, reported, run_example

pytestmark = [pytest.mark.timeout(400)]


def test_joint_inference_runs_and_reruns(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        first = run_example(data_dir, "joint-inference-helmet")
        assert first.returncode == 0, first.stdout + first.stderr
        assert reported(first.stdout, "condition") == "Running"
        assert reported(first.stdout, "inference number") == "20"
        hard = int(reported(first.stdout, "hard-example number"))
        assert float(reported(first.stdout, "upload-cloud ratio")) == pytest.approx(hard / 20, abs=1e-3)
        assert reported(first.stdout, "failed offloads") == "0"
        out = data_dir / "nodes" / "edge-node" / "joint_inference" / "output"
        assert len(list((out / "output").glob("*.json"))) == 20
        assert len(list((out / "hard_example_cloud_inference_output").glob("*.json"))) == hard
        assert f"export KUBECONFIG={data_dir}/kubeconfig" in first.stdout

        again = run_example(data_dir, "joint-inference-helmet")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "reusing the cluster" in again.stdout and "reusing the prepared data" in again.stdout
        assert "object(s) of an earlier run" in again.stdout
        assert reported(again.stdout, "inference number") == "20"
        assert len(list((out / "output").glob("*.json"))) == 20
    finally:
        down(data_dir)
