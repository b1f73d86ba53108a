"""Write the inputs of the object-search and object-tracking examples: one video per camera
(``cams/<camera>.npy``), the target's photo (``query.npy``, ``--query`` chooses whose), the detector's model file and the ground truth
(``truth.json``: camera → frame → person → box). Outputs of an earlier run (``results/``, ``tracks/``,
``hub/``) are removed.

    python prepare_cameras.py --out /tmp/object-search --frames 18
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import cameras
import numpy as np
import scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", type=int, default=18)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--query", default="target", choices=[*scene.PEOPLE, "stranger"],
                        help="whose photo the user searches with (stranger: someone in no camera)")
    args = parser.parse_args()
    for stale in ("results", "tracks", "hub"):
        shutil.rmtree(os.path.join(args.out, stale), ignore_errors=True)
    os.makedirs(os.path.join(args.out, "cams"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "models"), exist_ok=True)
    truth = {}
    for camera in cameras.CAMERAS:
        frames = np.stack([cameras.render(camera, i, args.seed) for i in range(args.frames)])
        np.save(os.path.join(args.out, "cams", f"{camera}.npy"), frames, allow_pickle=False)
        truth[camera] = {str(i): cameras.truth(camera, i) for i in range(args.frames)}
    np.save(os.path.join(args.out, "query.npy"), scene.query_image(person=args.query), allow_pickle=False)
    with open(os.path.join(args.out, "models", "detector.json"), "w", encoding="utf-8") as fh:
        json.dump({"threshold": 100, "min_area": 60}, fh)
    with open(os.path.join(args.out, "truth.json"), "w", encoding="utf-8") as fh:
        json.dump(truth, fh)
    sightings = sum(args.query in boxes for frames in truth.values() for boxes in frames.values())
    print(json.dumps({"cameras": list(cameras.CAMERAS), "frames": args.frames, "target_frames": sightings,
                      "out": args.out}))


if __name__ == "__main__":
    main()
