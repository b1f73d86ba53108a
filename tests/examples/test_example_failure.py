"""A success condition can fail: with the cloud worker's image mapped to a crashing command the runner exits
non-zero and names the failed pod, its exit code and its last log lines."""

from __future__ import annotations

import pytest
from examples_support import down, run_example

pytestmark = [pytest.mark.timeout(300)]

CRASHING = """\
images:
  sedna-example/joint-inference-helmet-detection-big:
    entrypoint: [python, -c, "import sys; print('big model: cannot load weights', file=sys.stderr); sys.exit(3)"]
"""


def test_crashing_worker_fails_the_run_naming_the_pod(tmp_path):
    data_dir = tmp_path / "cluster"
    override = tmp_path / "crash.yaml"
    override.write_text(CRASHING)
    try:
        done = run_example(data_dir, "joint-inference-helmet", "--image-map", str(override), "--timeout", "120")
        assert done.returncode == 1, done.stdout + done.stderr
        failed = next(line for line in done.stdout.splitlines() if line.startswith("FAILED:"))
        assert "pod helmet-detection-inference-example-deployment-cloud-" in failed
        assert "container big-model" in failed and "exited with code 3" in failed
        assert "big model: cannot load weights" in done.stdout          # the pod's last log lines
        assert "success in" not in done.stdout
    finally:
        down(data_dir)


def test_unknown_example_is_a_usage_error(tmp_path):
    done = run_example(tmp_path / "cluster", "no-such-example", timeout=60)
    assert done.returncode == 2 and "no example 'no-such-example'" in done.stderr
    assert "joint-inference-helmet" in done.stderr
