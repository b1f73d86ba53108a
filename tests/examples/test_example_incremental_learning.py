"""``sedna local example run incremental-learning-helmet``: train → eval → deploy with hot update on, the
deployed inference worker swapping to the trained model and answering later frames with it."""

from __future__ import annotations

import json

import pytest
from examples_support import down, run_example

pytestmark = [pytest.mark.timeout(400), pytest.mark.slow]


def test_incremental_learning_hot_update(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        done = run_example(data_dir, "incremental-learning-helmet")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "met: the inference worker hot-swapped to the new model" in done.stdout
        node = data_dir / "nodes" / "edge-node"
        hot = node / "var/lib/sedna/model-hot-update/default/incrementallearningjob/helmet-detection-demo"
        config = json.loads((hot / "model_config.json").read_text())
        # the LC writes the in-container path, as on a cluster; the worker could open it
        assert config["model_config"]["model_path"] == "/model-hot-update/model.npz"
        assert (hot / "model.npz").read_bytes() == (node / "output/train/1/model.npz").read_bytes()
    finally:
        down(data_dir)
