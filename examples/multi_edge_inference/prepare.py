"""Write the example's inputs: the video (``video.npy``, frames × H × W × 3), the target's query photo, the
two model files and the ground truth (``truth.json``: frame → person → box).

    python prepare.py --out /tmp/multi-edge --frames 24
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import numpy as np
import scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.makedirs(os.path.join(args.out, "models"), exist_ok=True)
    # a fresh run: nothing left from an earlier one (result files, the detector's summary, matches)
    shutil.rmtree(os.path.join(args.out, "shared"), ignore_errors=True)
    if os.path.exists(os.path.join(args.out, "reid_results.jsonl")):
        os.remove(os.path.join(args.out, "reid_results.jsonl"))
    frames = np.stack([scene.render(i, args.seed) for i in range(args.frames)])
    np.save(os.path.join(args.out, "video.npy"), frames, allow_pickle=False)
    np.save(os.path.join(args.out, "query.npy"), scene.query_image(), allow_pickle=False)
    with open(os.path.join(args.out, "models", "detector.json"), "w", encoding="utf-8") as fh:
        json.dump({"threshold": 100, "min_area": 60}, fh)
    with open(os.path.join(args.out, "models", "fe.json"), "w", encoding="utf-8") as fh:
        json.dump({"bins": 4}, fh)
    with open(os.path.join(args.out, "truth.json"), "w", encoding="utf-8") as fh:
        json.dump({str(i): scene.truth(i) for i in range(args.frames)}, fh)
    print(json.dumps({"frames": args.frames, "out": args.out}))


if __name__ == "__main__":
    main()
