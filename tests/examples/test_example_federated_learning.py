"""``sedna local example run federated-learning-surface-defect``: FedAvg over two edge trainers, 3 rounds."""

from __future__ import annotations

import re

import pytest
from examples_support import REPO, down, reported, run_example

pytestmark = [pytest.mark.timeout(400)]


def test_federated_learning_three_rounds(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        done = run_example(data_dir, "federated-learning-surface-defect")
        assert done.returncode == 0, done.stdout + done.stderr
        assert reported(done.stdout, "phase") == "Succeeded"
        # the round report's updateTime arrives in upstream's "%Y-%m-%d %H:%M:%S"
        assert re.search(r"last round\s+Round 3 reaches at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", done.stdout, re.MULTILINE)
        for node in ("edge-node", "edge2-node"):
            assert [p.name for p in (data_dir / "nodes" / node / "model").iterdir()]
    finally:
        down(data_dir)
    # the pods' working directory is private: nothing written into the example folder
    assert not list((REPO / "examples/federated_learning/surface_defect_detection").glob("*.safetensors"))
