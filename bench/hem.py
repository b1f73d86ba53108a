"""Hard-example filters per call on short inputs: ours vs upstream-style code, same inputs, same run.

The inputs are the seeded 100,000 results of 1–10 boxes / probabilities of ``tests/support/support_hem.py``.
The floor is upstream Sedna's per-call work written out here from the rules in spec/sdk.md §6.3: plain Python
per call, no numpy (``all(map(lambda ...))`` box check, ``data_check`` per score, a Python loop per box,
``math.log``; the issue's upstream figures, ~1.1M Threshold calls/s, are only reachable without numpy). Where
upstream crashes (CrossEntropy with one class or a zero probability) the floor answers as ours does.
Both are called as users call a filter, ``hem(infer_result)``.

Each filter runs ``--repeat`` times over all inputs in chunks of 250: both sides first touch the chunk once
(an inference result is fresh in the cache when the filter judges it; timing a cold chunk would charge the
cache misses to whichever side runs first), then each is timed on it in thread CPU time (the machine is
shared), the side that goes first alternating per chunk. One JSON line per filter: median [min, max] of
calls/s and of the ratio ours/upstream (goal ≥ 2), the hard counts, and ``differ``: inputs whose answer
differs from the floor's (the tests compare every input with the numpy reference path).

Usage: python bench/hem.py [--repeat 3] [--count 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "support"))


class _UpstreamBase:
    @classmethod
    def data_check(cls, data):
        return 0 <= float(data) <= 1


class UpstreamThreshold(_UpstreamBase):
    def __init__(self, threshold=0.5):
        self.threshold = float(threshold)

    def __call__(self, infer_result=None):
        if not (infer_result and all(map(lambda box: len(box) > 4, infer_result))):  # noqa: C417 (its shape)
            return False
        score = 0
        for box in infer_result:
            score += box[4]
        return score / (len(infer_result) or 1) < self.threshold


class UpstreamCrossEntropy(_UpstreamBase):
    def __init__(self, threshold_cross_entropy=0.5):
        self.threshold_cross_entropy = float(threshold_cross_entropy)

    def __call__(self, infer_result=None):
        if not infer_result:
            return False
        checked = [p for p in infer_result if self.data_check(p)]
        if len(checked) != len(infer_result):
            return False
        if len(infer_result) == 1:  # upstream divides by zero here; ours answers confidence 1
            return 1.0 < self.threshold_cross_entropy
        if 0 in checked:  # upstream raises on log(0); ours takes the p ln p -> 0 limit (one C scan, not a test per p)
            checked = [p for p in checked if p]
        log_sum = 0.0
        for p in checked:
            log_sum += p * math.log(p)
        return 1 + 1.0 * log_sum / math.log(len(infer_result)) < self.threshold_cross_entropy


class UpstreamIBT(_UpstreamBase):
    def __init__(self, threshold_img=0.5, threshold_box=0.5):
        self.threshold_img, self.threshold_box = float(threshold_img), float(threshold_box)

    def __call__(self, infer_result=None):
        if not (infer_result and all(map(lambda box: len(box) > 4, infer_result))):  # noqa: C417 (its shape)
            return False
        checked = [box[4] for box in infer_result if self.data_check(box[4])]
        if len(checked) != len(infer_result):
            return False
        low = [float(score) for score in checked if float(score) <= self.threshold_box]
        return len(low) / len(infer_result) >= 1 - self.threshold_img


def _cpu_seconds(fn, inputs) -> tuple[float, int]:
    """CPU time of this thread (the machine is shared: wall time would count other processes' turns)."""
    hard = 0
    t0 = time.thread_time()
    for x in inputs:
        hard += fn(x)
    return time.thread_time() - t0, hard


def _rates(ours, upstream, inputs, chunk: int = 250) -> tuple[float, float, int, int]:
    """calls/s of both over all inputs, chunk by chunk: both warm the chunk, then both are timed on it, the
    first to be timed alternating, so both see the same cache and machine conditions."""
    spent = [0.0, 0.0]
    hard = [0, 0]
    for k, start in enumerate(range(0, len(inputs), chunk)):
        part = inputs[start:start + chunk]
        _cpu_seconds(upstream, part)
        _cpu_seconds(ours, part)
        for i in ((0, 1) if k % 2 == 0 else (1, 0)):
            seconds, n = _cpu_seconds((upstream, ours)[i], part)
            spent[i] += seconds
            hard[i] += n
    return len(inputs) / spent[1], len(inputs) / spent[0], hard[1], hard[0]


def _summary(values: list[float], digits: int = 2) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--count", type=int, default=100_000)
    args = ap.parse_args(argv)
    from support_hem import hem_inputs

    from sedna.algorithms.hard_example_mining import CrossEntropyFilter, IBTFilter, ThresholdFilter

    pairs = hem_inputs(count=args.count)
    boxes, probs = [p[0] for p in pairs], [p[1] for p in pairs]
    lines = []
    for name, ours, upstream, inputs in (("IBT", IBTFilter(), UpstreamIBT(), boxes),
                                         ("CrossEntropy", CrossEntropyFilter(), UpstreamCrossEntropy(), probs),
                                         ("Threshold", ThresholdFilter(), UpstreamThreshold(), boxes)):
        ours_rates, floor_rates, ratios = [], [], []
        for _ in range(args.repeat):
            rate, floor_rate, hard, floor_hard = _rates(ours, upstream, inputs)
            ours_rates.append(rate)
            floor_rates.append(floor_rate)
            ratios.append(rate / floor_rate)
        differ = sum(1 for x in inputs if bool(ours(x)) is not bool(upstream(x)))
        line = {"bench": "hem", "case": name, "inputs": len(inputs), "hard": hard, "upstream_hard": floor_hard,
                "differ": differ,
                "calls_per_s": _summary(ours_rates, 0), "floor_upstream_calls_per_s": _summary(floor_rates, 0),
                "ratio_vs_floor": _summary(ratios), "goal": ">= 2"}
        print(json.dumps(line), flush=True)
        lines.append(line)
    return lines


if __name__ == "__main__":
    main()
