"""The seeded inputs on which the hard-example filters' fast paths are checked against their numpy paths
(tests) and timed against upstream-style code (bench/hem.py): 100,000 short inference results of
1–10 boxes / class probabilities, with the awkward values real models produce (scores exactly at the
threshold, one-decimal scores whose sums tie, integer 0/1, zero probabilities, one-hot and uniform vectors)."""

from __future__ import annotations

import random

HEM_SEED = 16
HEM_COUNT = 100_000


def _score(rng: random.Random):
    roll = rng.random()
    if roll < 0.8:
        return rng.random()
    if roll < 0.9:
        return round(rng.random(), 1)
    if roll < 0.95:
        return rng.randint(0, 1)
    return 0.5


def _probabilities(rng: random.Random, n: int) -> list:
    roll = rng.random()
    if roll < 0.05:
        return [1.0 / n] * n
    if roll < 0.1:
        hot = rng.randrange(n)
        return [1.0 if i == hot else 0.0 for i in range(n)]
    raw = [0.0 if rng.random() < 0.1 else rng.random() for _ in range(n)]
    total = sum(raw) or 1.0
    return [v / total for v in raw]


def hem_inputs(seed: int = HEM_SEED, count: int = HEM_COUNT) -> list[tuple[list, list]]:
    """``count`` pairs (boxes ``[x1, y1, x2, y2, score, label]``, class probabilities), 1–10 items each."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randint(1, 10)
        boxes = [[rng.random() * 100, rng.random() * 100, rng.random() * 100, rng.random() * 100, _score(rng),
                  rng.randint(0, 2)] for _ in range(n)]
        out.append((boxes, _probabilities(rng, n)))
    return out
