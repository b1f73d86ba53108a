"""Generate a small thermal-comfort dataset (seeded; nothing is downloaded).

Rows look like upstream's ASHRAE Thermal Comfort Database II extract: two task attributes (``Season``,
``Cooling startegy_building level``), numeric conditions and the ``Thermal preference`` label. Each
(season, strategy) pair has its own neutral temperature, so per-task models beat one global model. The
inference stream also holds rows of a season/strategy pair that training never saw (unseen tasks).

    python prepare.py --out ./data [--rows 600] [--seed 7] [--round2-rows N]
"""

import argparse
import os

import numpy as np
import pandas as pd

SEEN = {  # (season, strategy) -> neutral temperature (C)
    ("Summer", "Air Conditioned"): 23.0,
    ("Summer", "Naturally Ventilated"): 27.5,
    ("Winter", "Air Conditioned"): 21.0,
    ("Winter", "Naturally Ventilated"): 19.0,
}
UNSEEN = {("Autumn", "Mixed Mode"): 24.5}
COLUMNS = ["Season", "Cooling startegy_building level", "Air temperature (C)", "Relative humidity (%)",
           "Air velocity (m/s)", "Clo", "Met", "Outdoor monthly air temperature (C)", "Thermal preference"]


def make_rows(rng, groups, n):
    keys = list(groups)
    out = []
    for i in range(n):
        season, strategy = keys[i % len(keys)]
        neutral = groups[(season, strategy)]
        temp = neutral + rng.normal(0, 3.0)
        humidity = rng.uniform(30, 70)
        velocity = abs(rng.normal(0.15, 0.1))
        clo = rng.uniform(0.4, 1.2)
        met = rng.uniform(1.0, 1.4)
        outdoor = neutral + rng.normal(0, 4.0)
        felt = temp - neutral + 0.02 * (humidity - 50) - 2.0 * velocity + 2.0 * (clo - 0.8)
        label = 0 if felt > 1.0 else (2 if felt < -1.0 else 1)  # 0 cooler, 1 no change, 2 warmer
        out.append([season, strategy, round(temp, 2), round(humidity, 1), round(velocity, 3), round(clo, 2),
                    round(met, 2), round(outdoor, 2), label])
    return pd.DataFrame(out, columns=COLUMNS)


def generate(out_dir, rows=600, seed=7, round2_rows=0):
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    train = make_rows(rng, SEEN, rows)
    test = make_rows(rng, SEEN, max(rows // 3, 8))
    infer = pd.concat([make_rows(rng, SEEN, max(rows // 10, 8)), make_rows(rng, UNSEEN, max(rows // 30, 4))],
                      ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frames = [("trainData.csv", train), ("testData.csv", test), ("inferData.csv", infer)]
    if round2_rows:
        # the dataset after labelling: the first rows plus new ones, among them the task inference found unseen
        more = make_rows(rng, {**SEEN, **UNSEEN}, round2_rows)
        frames.append(("trainData_round2.csv", pd.concat([train, more], ignore_index=True)))
    for name, frame in frames:
        paths[name] = os.path.join(out_dir, name)
        frame.to_csv(paths[name], index=False)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="./data")
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--round2-rows", type=int, default=0,
                        help="also write trainData_round2.csv: the train rows plus N new ones, unseen task included")
    args = parser.parse_args()
    for name, path in generate(args.out, args.rows, args.seed, args.round2_rows).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
