"""``sedna local example run lifelong-learning-atcii``: the KB server from upstream's entry point, two rounds,
the second adding the task inference found unseen; ``status.knowledgeBase`` counts filled."""

from __future__ import annotations

import json
import re

import pytest
from examples_support import down, run_example

pytestmark = [pytest.mark.timeout(400), pytest.mark.slow]


def test_lifelong_learning_two_rounds(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        done = run_example(data_dir, "lifelong-learning-atcii")
        assert done.returncode == 0, done.stdout + done.stderr
        models = json.loads(re.search(r"^\s+models\s+(\[.*\])$", done.stdout, re.MULTILINE).group(1))
        counts = {m["modelID"]: m["numberOfTrainSamples"] for m in models}
        assert counts["Autumn_MixedMode"] > 0 and all(n > 0 for n in counts.values())
        labeled = int(re.search(r"^\s+labeled unseen\s+(\d+)$", done.stdout, re.MULTILINE).group(1))
        assert labeled == counts["Autumn_MixedMode"]
        assert (data_dir / "nodes/cloud-node/opt/kb-data").is_dir()
    finally:
        down(data_dir)
