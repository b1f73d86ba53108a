"""``sedna local example run federated-learning-mistnet-yolo``: the seed's MistNet YOLO job end to end."""

from __future__ import annotations

import re

import pytest
from examples_support import down, reported, run_example

from sedna.common.tensors import loads_arrays

pytest.importorskip("torch")
pytest.importorskip("PIL")

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.timeout(420)]


def test_mistnet_yolo_runs_two_rounds_and_loss_goes_down(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        run = run_example(data_dir, "federated-learning-mistnet-yolo", "--down", timeout=400)
        assert run.returncode == 0, run.stdout + run.stderr
        assert reported(run.stdout, "phase") == "Succeeded"
        model = data_dir / "nodes" / "cloud-node" / "model" / "yolov5" / "global_model.safetensors"
        arrays, meta = loads_arrays(model.read_bytes())
        assert meta["round"] == 2 and "layers.6.conv.weight" in arrays
        [log] = (data_dir / "logs").glob("default_yolo-v5-aggregation-*_agg-worker.log")
        losses = [float(x) for x in re.findall(r"^MistNet round \d: loss ([0-9.]+)$", log.read_text(), re.MULTILINE)]
        print("per-round loss:", losses)
        assert len(losses) == 2 and losses[1] < losses[0]
        # each trainer sent features of its 64 images (2 batches), never weights
        sent = re.findall(r"round (\d): sending features of (\d+) samples \((\d+) batches", "".join(
            p.read_text() for p in (data_dir / "logs").glob("default_yolo-v5-train-*_train-worker.log")))
        assert sorted(sent) == [("1", "64", "2")] * 2 + [("2", "64", "2")] * 2
    finally:
        down(data_dir)
