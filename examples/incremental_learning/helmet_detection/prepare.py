"""Create the example's dataset, initial model and inference frames with a fixed seed (no downloads).

    python prepare.py [--out DIR] [--train N] [--test N] [--stream N] [--shape 416,736] [--seed 0]

Writes ``DIR/dataset/{frames,labels}/*.npy``, the dataset index files ``DIR/dataset/train_data.txt`` and
``DIR/dataset/test_data.txt`` (one ``frames/<name>.npy`` per line, the Dataset CR's ``url``),
``DIR/models/initial_model.npz`` (also copied to ``DIR/models/deploy_model.npz``) and unlabelled frames for
the inference worker in ``DIR/video/`` (and ``--stream-after`` more in ``DIR/video_after/``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import numpy as np
from helmet import make_frame, parse_shape
from interface import initial_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./data")
    parser.add_argument("--train", type=int, default=30)
    parser.add_argument("--test", type=int, default=10)
    parser.add_argument("--stream", type=int, default=10)
    parser.add_argument("--stream-after", type=int, default=0,
                        help="more frames in DIR/video_after/, for after a model update")
    parser.add_argument("--shape", default="416,736")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shape = parse_shape(args.shape)
    rng = np.random.default_rng(args.seed)
    dataset = os.path.join(args.out, "dataset")
    for sub in ("frames", "labels"):
        os.makedirs(os.path.join(dataset, sub), exist_ok=True)
    for split, count in (("train", args.train), ("test", args.test)):
        lines = []
        for index in range(count):
            name = f"{split}-{index:06d}.npy"
            frame, label = make_frame(rng, shape)
            np.save(os.path.join(dataset, "frames", name), frame, allow_pickle=False)
            np.save(os.path.join(dataset, "labels", name), label, allow_pickle=False)
            lines.append(f"frames/{name}")
        with open(os.path.join(dataset, f"{split}_data.txt"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    models = os.path.join(args.out, "models")
    initial = initial_model(rng, shape).save(os.path.join(models, "initial_model.npz"))
    shutil.copyfile(initial, os.path.join(models, "deploy_model.npz"))
    video = os.path.join(args.out, "video")
    os.makedirs(video, exist_ok=True)
    for index in range(args.stream):
        frame, _ = make_frame(rng, shape)
        np.save(os.path.join(video, f"frame-{index:06d}.npy"), frame, allow_pickle=False)
    if args.stream_after:
        later = os.path.join(args.out, "video_after")
        os.makedirs(later, exist_ok=True)
        for index in range(args.stream, args.stream + args.stream_after):
            frame, _ = make_frame(rng, shape)
            np.save(os.path.join(later, f"frame-{index:06d}.npy"), frame, allow_pickle=False)
    print(json.dumps({"out": os.path.abspath(args.out), "train": args.train, "test": args.test,
                      "stream": args.stream}))


if __name__ == "__main__":
    main()
