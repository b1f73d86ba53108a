"""Create the example's models and frames with a fixed seed (no downloads).

    python prepare.py [--out DIR] [--frames N] [--train-frames N] [--shape 416,736] [--seed 0]

Writes ``DIR/models/little_model.npz``, ``DIR/models/big_model.npz`` and ``DIR/frames/frame-XXXXXX.npy``
(uint8 ``H x W x 3``), with their cell labels in ``DIR/labels/``.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from helmet import SoftmaxModel, cell_accuracy, make_frame, parse_shape, training_set


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./data")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--train-frames", type=int, default=40)
    parser.add_argument("--shape", default="416,736")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shape = parse_shape(args.shape)
    rng = np.random.default_rng(args.seed)
    models = {}
    for kind in ("little", "big"):
        features, labels = training_set(rng, kind, args.train_frames, shape)
        models[kind] = SoftmaxModel.fit(kind, features, labels, seed=args.seed)
        models[kind].save(os.path.join(args.out, "models", f"{kind}_model.npz"))
    frames, labels = [], []
    os.makedirs(os.path.join(args.out, "frames"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "labels"), exist_ok=True)
    for index in range(args.frames):
        frame, label = make_frame(rng, shape)
        frames.append(frame)
        labels.append(label)
        np.save(os.path.join(args.out, "frames", f"frame-{index:06d}.npy"), frame, allow_pickle=False)
        np.save(os.path.join(args.out, "labels", f"frame-{index:06d}.npy"), label, allow_pickle=False)
    summary = {kind: round(cell_accuracy(model, frames, labels), 4) for kind, model in models.items()}
    print(json.dumps({"out": os.path.abspath(args.out), "frames": args.frames, "cell_accuracy": summary}))


if __name__ == "__main__":
    main()
