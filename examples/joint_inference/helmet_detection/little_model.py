"""Edge worker of the helmet-detection JointInferenceService: detects on every frame with the little model
and sends hard frames to the big model.

Env (the GM injects the upper-case ones; the lower-case ones are the user env of the CR's edge template):

- ``MODEL_URL`` little model file; ``BIG_MODEL_IP`` / ``BIG_MODEL_PORT`` the cloud worker; ``HEM_NAME`` /
  ``HEM_PARAMETERS`` hard example mining; ``LC_SERVER``, ``SERVICE_NAME``, ``NAMESPACE``, ``WORKER_NAME``;
- ``video_url``: a directory of ``.npy`` frames (``H x W x 3`` uint8), or one ``.npy`` file holding a stack
  ``N x H x W x 3`` (our stand-in for upstream's RTSP stream; ``file://`` prefix allowed);
- ``all_examples_inference_output``, ``hard_example_cloud_inference_output``,
  ``hard_example_edge_inference_output``: output directories (one JSON file per frame);
- ``input_shape`` (``416,736``): frames of another size are rejected with a log line;
- ``exit_when_done`` (``false``): stop after the frames present now instead of watching for new ones;
  ``poll_interval`` (``2`` s) between directory scans.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from helmet import CLASS_NAMES, parse_shape
from interface import Estimator

from sedna.common.config import Context
from sedna.common.log import LOGGER
from sedna.core.joint_inference import JointInference

_WARNED: set[str] = set()


def postprocess(boxes):
    """Keep confident boxes and name their classes (runs on the edge result only, as upstream)."""
    obj_threshold = float(Context.get_parameters("obj_threshold", 0.3))
    return [box + [CLASS_NAMES[int(box[5])]] for box in boxes if box[4] >= obj_threshold]


def frames_from(url: str):
    """Yield ``(name, frame)`` for every frame not seen yet; directories are rescanned by the caller."""
    path = url.removeprefix("file://")
    if os.path.isfile(path):
        stack = np.load(path, allow_pickle=False, mmap_mode="r")
        stack = stack[None] if stack.ndim == 3 else stack
        for index in range(stack.shape[0]):
            yield f"{os.path.splitext(os.path.basename(path))[0]}-{index:06d}", np.asarray(stack[index])
        return
    if not os.path.isdir(path):
        if url not in _WARNED:
            LOGGER.warning("video_url %s is not a directory or .npy file (yet); waiting for frames", url)
            _WARNED.add(url)
        return
    for name in sorted(os.listdir(path)):
        if name.endswith(".npy"):
            yield os.path.splitext(name)[0], np.load(os.path.join(path, name), allow_pickle=False)


def write_json(directory, name, doc):
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, os.path.join(directory, f"{name}.json"))


def output_deal(name, is_hard_example, final_result, edge_result, cloud_result):
    all_output = Context.get_parameters("all_examples_inference_output")
    write_json(all_output, name, {"frame": name, "is_hard_example": is_hard_example, "result": final_result})
    if is_hard_example:
        write_json(Context.get_parameters("hard_example_edge_inference_output"), name,
                   {"frame": name, "result": edge_result})
        write_json(Context.get_parameters("hard_example_cloud_inference_output"), name,
                   {"frame": name, "result": cloud_result})


def run():
    input_shape = parse_shape(Context.get_parameters("input_shape", "416,736"))
    video_url = Context.get_parameters("video_url", "./data/frames")
    exit_when_done = str(Context.get_parameters("exit_when_done", "false")).lower() == "true"
    poll_interval = float(Context.get_parameters("poll_interval", 2))
    hard_example_mining = JointInference.get_hem_algorithm_from_config(threshold_img=0.9)
    model = JointInference(estimator=Estimator, hard_example_mining=hard_example_mining)
    seen = set()
    counts = {"frames": 0, "hard": 0, "cloud": 0}
    try:
        while True:
            new = 0
            for name, frame in frames_from(video_url):
                if name in seen:
                    continue
                seen.add(name)
                new += 1
                if frame.shape[:2] != tuple(input_shape):
                    LOGGER.warning("frame %s has shape %s, expected %s; skipped", name, frame.shape, input_shape)
                    continue
                is_hard, final_result, edge_result, cloud_result = model.inference(
                    frame, post_process=postprocess, input_shape=list(input_shape))
                counts["frames"] += 1
                counts["hard"] += int(is_hard)
                counts["cloud"] += int(cloud_result is not None)
                output_deal(name, is_hard, final_result, edge_result, cloud_result)
            if new:
                LOGGER.info("processed %(frames)d frames, %(hard)d hard, %(cloud)d answered by the cloud", counts)
            if exit_when_done and not new:
                break
            if not new:
                time.sleep(poll_interval)
    finally:
        model.close()
        LOGGER.info("done: %s (cloud failures: %d)", json.dumps(counts), model.failed_offload_number)


if __name__ == "__main__":
    run()
