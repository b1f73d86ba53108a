"""Inference worker of the helmet-detection IncrementalLearningJob: detects on a frame stream and saves hard
examples (they become new samples for the next training round).

Env: ``MODEL_URL`` (deploy model), ``HEM_NAME`` / ``HEM_PARAMETERS``, hot update (``MODEL_HOT_UPDATE``,
``MODEL_HOT_UPDATE_CONFIG``, ``MODEL_POLL_PERIOD_SECONDS``, injected when hotUpdateEnabled), ``LC_SERVER``,
``JOB_NAME``, ``NAMESPACE``, ``WORKER_NAME``; user env ``video_url`` (directory of ``.npy`` frames,
``file://`` allowed), ``HE_SAVED_URL`` (where hard frames and their results go), ``input_shape``,
``exit_when_done`` (``false``: keep watching the directory) and ``poll_interval`` (2 s).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from helmet import parse_shape
from interface import Estimator

from sedna.common.config import Context
from sedna.common.log import LOGGER
from sedna.core.incremental_learning import IncrementalLearning


def output_deal(name, frame, result, is_hard_example):
    if not is_hard_example:
        return
    he_saved_url = Context.get_parameters("HE_SAVED_URL", "./hard_examples")
    os.makedirs(he_saved_url, exist_ok=True)
    np.save(os.path.join(he_saved_url, f"{name}.npy"), frame, allow_pickle=False)
    with open(os.path.join(he_saved_url, f"{name}.json"), "w", encoding="utf-8") as fh:
        json.dump({"frame": name, "result": result}, fh)


def main():
    input_shape = parse_shape(Context.get_parameters("input_shape", "416,736"))
    video_url = str(Context.get_parameters("video_url", "./data/video")).removeprefix("file://")
    exit_when_done = str(Context.get_parameters("exit_when_done", "false")).lower() == "true"
    poll_interval = float(Context.get_parameters("poll_interval", 2))
    hard_example_mining = IncrementalLearning.get_hem_algorithm_from_config(threshold_img=0.9)
    incremental_instance = IncrementalLearning(estimator=Estimator, hard_example_mining=hard_example_mining)
    seen, hard = set(), 0
    while True:
        names = sorted(n for n in os.listdir(video_url) if n.endswith(".npy")) if os.path.isdir(video_url) else []
        new = [n for n in names if n not in seen]
        for name in new:
            seen.add(name)
            frame = np.load(os.path.join(video_url, name), allow_pickle=False)
            if frame.shape[:2] != tuple(input_shape):
                LOGGER.warning("frame %s has shape %s, expected %s; skipped", name, frame.shape, input_shape)
                continue
            _infer_res, res, is_hard_example = incremental_instance.inference(frame)
            hard += int(is_hard_example)
            output_deal(os.path.splitext(name)[0], frame, res, is_hard_example)
        if new:
            LOGGER.info("processed %d frames, %d hard examples so far", len(seen), hard)
        if exit_when_done and not new:
            break
        if not new:
            time.sleep(poll_interval)


if __name__ == "__main__":
    main()
