"""Hard-example-mining formula tables, edge cases and registry aliases."""

import math
import random
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from sedna.algorithms.hard_example_mining import (
    CrossEntropyFilter,
    IBTFilter,
    RandomFilter,
    ThresholdFilter,
    box_scores,
)
from sedna.algorithms.hard_example_mining.hard_example_mining import _mean_cutoffs
from sedna.common.class_factory import ClassFactory, ClassType


def box(score, label=0):
    return [0, 0, 10, 10, score, label]


@pytest.mark.parametrize("boxes, threshold, hard", [
    ([box(0.2), box(0.4)], 0.5, True),          # avg 0.3 < 0.5
    ([box(0.6), box(0.4)], 0.5, False),         # avg 0.5, not < 0.5
    ([box(0.9)], "0.95", True),                 # string parameter is cast
    ([], 0.5, False),                           # empty
    (None, 0.5, False),
    ([[0, 0, 1, 1]], 0.5, False),               # short box
    ([box(0.1), [0, 0, 1]], 0.5, False),        # one short box among good ones
    ([[0, 0, 1, 1, 0.1]], 0.5, True),           # five items is enough
    ([[0, 0, 1, 1, 0.1], box(0.2)], 0.5, True), # ragged but valid
    ([box("x")], 0.5, False),                   # non-numeric
    (np.array([box(0.1), box(0.3)]), 0.5, True),
    (np.zeros((0, 6)), 0.5, False),
])
def test_threshold_table(boxes, threshold, hard):
    assert ThresholdFilter(threshold=threshold)(boxes) is hard


def cross_entropy_confidence(probs):
    n = len(probs)
    return 1 + sum(p * math.log(p) for p in probs if p > 0) / math.log(n)


@pytest.mark.parametrize("probs, threshold, hard", [
    ([0.5, 0.5], 0.5, True),                    # confidence 0
    ([0.99, 0.01], 0.5, False),                 # confident
    ([0.7, 0.2, 0.1], 0.5, cross_entropy_confidence([0.7, 0.2, 0.1]) < 0.5),
    ([0.7, 0.2, 0.1], 0.2, cross_entropy_confidence([0.7, 0.2, 0.1]) < 0.2),
    ([1.0, 0.0], 0.5, False),                   # p = 0 is the p ln p -> 0 limit (upstream raises)
    ([1.0], 0.5, False),                        # n = 1: confidence 1 (upstream divides by zero)
    ([], 0.5, False),
    (None, 0.5, False),
    ([1.2, -0.2], 0.5, False),                  # outside [0, 1]
    ([0.5, float("nan")], 0.5, False),
    (["a", "b"], 0.5, False),
    (np.array([0.25, 0.25, 0.25, 0.25]), "0.1", True),
])
def test_cross_entropy_table(probs, threshold, hard):
    assert CrossEntropyFilter(threshold_cross_entropy=threshold)(probs) is hard


def test_cross_entropy_value_matches_formula():
    probs = [0.6, 0.3, 0.1]
    assert CrossEntropyFilter().confidence(probs) == pytest.approx(cross_entropy_confidence(probs))


@pytest.mark.parametrize("boxes, t_img, t_box, hard", [
    # coef = #{score <= t_box} / N ; hard iff coef >= 1 - t_img
    ([box(0.2), box(0.9)], 0.5, 0.5, True),     # coef 0.5 >= 0.5
    ([box(0.2), box(0.9), box(0.8)], 0.5, 0.5, False),  # 1/3 < 0.5
    ([box(0.5)], 0.5, 0.5, True),               # <= is inclusive
    ([box(0.95)] * 9 + [box(0.3)], 0.9, 0.9, True),     # 0.1 >= 1 - 0.9 (float rounding ok)
    ([box(0.95)] * 10, 0.9, 0.9, False),        # coef 0 < 0.1
    ([box(0.95)] * 10, 1.0, 0.9, True),         # t_img 1 -> everything with boxes is hard
    ([], 0.5, 0.5, False),
    ([[1, 2, 3]], 0.5, 0.5, False),
    ([box(1.5)], 0.5, 0.5, False),              # score outside [0, 1]
    ([box(-0.1), box(0.2)], 0.5, 0.5, False),
    ([box(0.1), box(0.2)], "0.5", "0.5", True),
])
def test_ibt_table(boxes, t_img, t_box, hard):
    assert IBTFilter(threshold_img=t_img, threshold_box=t_box)(boxes) is hard


def test_ibt_vectorised_matches_loop():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        boxes = np.column_stack([rng.random((n, 4)), rng.random(n), rng.integers(0, 3, n)])
        t_img, t_box = rng.random(), rng.random()
        coef = sum(1 for b in boxes.tolist() if b[4] <= t_box) / n
        assert IBTFilter(threshold_img=t_img, threshold_box=t_box)(boxes) is (coef >= 1 - t_img)
        assert IBTFilter(threshold_img=t_img, threshold_box=t_box)(boxes.tolist()) is (coef >= 1 - t_img)


def test_random_ratio_and_seed():
    f1, f2 = RandomFilter(random_ratio="0.3", seed="7"), RandomFilter(random_ratio=0.3, seed=7)
    a = [f1(None) for _ in range(2000)]
    assert a == [f2(None) for _ in range(2000)]
    assert 0.25 < sum(a) / len(a) < 0.35
    assert not any(RandomFilter(random_ratio=0)(None) for _ in range(100))
    assert all(RandomFilter(random_ratio=1)(None) for _ in range(100))


@pytest.mark.parametrize("alias, data, hard", [
    ("CloudOnly", [box(0.99)], True),
    ("EdgeOnly", [box(0.01)], False),
    ("Threshold", [box(0.1)], True),
    ("IBT", [box(0.1)], True),
    ("CrossEntropy", [0.5, 0.5], True),
    ("Random", None, None),
])
def test_registry_aliases(alias, data, hard):
    cls = ClassFactory.get_cls(ClassType.HEM, alias)
    result = cls()(data)
    if hard is None:
        assert isinstance(result, bool)
    else:
        assert result is hard


def test_bad_parameter_names_field():
    with pytest.raises(ValueError, match="threshold_img"):
        IBTFilter(threshold_img="high")


def test_box_scores_shapes():
    assert box_scores([[0, 0, 1, 1, 0.5, 1]]).tolist() == [0.5]
    assert box_scores(np.zeros((3, 4))) is None
    assert box_scores([0.1, 0.2]) is None
    assert box_scores(5) is None


def test_boxes_with_named_labels_and_bad_scores():
    named = [[0, 0, 1, 1, 0.2, "helmet"], [0, 0, 1, 1, 0.95, "head"]]
    assert box_scores(named).tolist() == [0.2, 0.95]
    assert IBTFilter(threshold_img=0.5, threshold_box=0.5)(named) is True
    assert ThresholdFilter(threshold=0.5)([[0, 0, 1, 1, "0.2"]]) is False  # text score
    assert ThresholdFilter(threshold=0.5)(["abcdef"]) is False  # a string is not a box
    assert ThresholdFilter(threshold=0.5)(np.array([["a", "b", "c", "d", "e"]])) is False
    assert box_scores(({4: 0.3},)) is not None  # any indexable box works, as upstream


# -- fast paths for short inputs (issue 16): the same answer as the numpy path, input by input ------------------

@pytest.fixture(scope="module")
def seeded_inputs():
    from support_hem import hem_inputs

    return hem_inputs()


@pytest.mark.parametrize("make,pick,hard", [
    (lambda: IBTFilter(), 0, 64_037),
    (lambda: CrossEntropyFilter(), 1, 80_734),
    (lambda: ThresholdFilter(), 0, 49_749),
    (lambda: IBTFilter(0.9, 0.9), 0, 98_805),
])
def test_fast_path_matches_numpy_path_on_seeded_inputs(seeded_inputs, make, pick, hard):
    hem = make()
    fast = [hem(pair[pick]) for pair in seeded_inputs]
    slow = [hem._decide(pair[pick]) for pair in seeded_inputs]
    differ = [i for i, (a, b) in enumerate(zip(fast, slow)) if a is not b]
    assert not differ, f"{len(differ)} inputs decided differently, first at index {differ[0]}"
    assert sum(fast) == hard


@pytest.mark.parametrize("hem,data,expected", [
    (ThresholdFilter(0.5), [[0, 0, 1, 1, 0.5, 0]], False),                  # mean exactly at the threshold
    (ThresholdFilter(0.5), [[0, 0, 1, 1, 0.2, 0], [0, 0, 1, 1, 0.8, 0]], False),
    (ThresholdFilter(0.5), [[0, 0, 1, 1, float("nan"), 0]], False),
    (ThresholdFilter(0.5), [[0, 0, 1, 1, np.float32(0.1), 0]], True),       # numpy scalar: numpy path
    (IBTFilter(0.5, 0.5), [[0, 0, 1, 1, float("nan"), 0]], False),
    (IBTFilter(0.5, 0.5), [[0, 0, 1, 1, 1.5, 0]], False),
    (IBTFilter(0.5, 0.5), [[0, 0, 1, 1, True, 0]], False),                  # bool: numpy path, 1.0
    (CrossEntropyFilter(0.5), [0.5, 0.5], True),                            # confidence 0
    (CrossEntropyFilter(0.5), [1, 0], False),                               # ints, confidence 1
    (CrossEntropyFilter(0.5), [0.5, float("nan")], False),
    (CrossEntropyFilter(0.5), [0.5, -0.1], False),
    (CrossEntropyFilter(0.5), [[0.5, 0.5]], True),                          # nested: numpy path ravels
    (ThresholdFilter(0.5), [[0, 0, 1, 1, "0.1", 0]] * 9, False),            # text scores are never hard
    (ThresholdFilter(0.5), [[0, 0, 1, 1, 0.1, 0]] * 9 + [[0, 0, 1, 1, 0.9, 0]] * 3, True),
    (IBTFilter(0.5, 0.5), [[0, 0, 1, 1, 0.5, 0], [0, 0, 1, 1, float("nan"), 0]], False),
    (IBTFilter(0.5, 0.5), [[0, 0, 1, 1, float("inf"), 0]], False),
    (IBTFilter(0.5, 0.5), [[0, 0, 1, 1, "0.1", 0]], False),
    (IBTFilter(0.5, 0.5), [[0, 0, 1, 1, 0.1, 0], [0, 0, 1, 1, 0.9, 0]], True),
])
def test_fast_path_edge_values(hem, data, expected):
    assert hem(data) is expected
    assert hem._decide(data) is expected


# -- fast paths against the numpy path on awkward values, shapes and parameters (issue 16) -----------------------

ODD_SCORES = [0.5, 0.0, -0.0, 1.0, 1, 0, True, False, float("nan"), float("inf"), float("-inf"), 1e308, -0.1,
              1.5, Fraction(1, 3), Fraction(2**60 + 1, 2**60), Decimal("0.3"), np.float32(0.1), np.float64(0.1),
              np.int64(1), 10**400, "0.1", b"x", None, 5e-324]


def _odd_box_results():
    """Results of 1-33 boxes mixing ordinary and odd scores, odd box shapes and odd containers."""
    rng = np.random.default_rng(16)
    out = []
    for odd in ODD_SCORES:
        for n in (1, 2, 7, 8, 9, 15, 16, 17, 32, 33):
            scores = [float(v) for v in rng.random(n)]
            scores[int(rng.integers(n))] = odd
            out.append([[0, 0, 1, 1, s, 0] for s in scores])
            out.append(tuple((0, 0, 1, 1, s) for s in scores))
    out += [[], (), None, [[]], [[0, 0, 1, 1]], ["abcdef"], [{4: 0.3}], [np.array([0, 0, 1, 1, 0.2, 0])],
            [[0, 0, 1, 1, 0.2]] * 8 + [[0, 0, 1, 1]], [[0, 0, 1, 1, 1e308]] * 9,
            np.array([[0, 0, 1, 1, 0.2, 0], [0, 0, 1, 1, 0.7, 1]]),
            np.array([[0, 0, 1, 1, 0.2, 0], [0, 0, 1, 1, 0.7]], dtype=object),
            {(0, 0, 1, 1, 0.3, 0): "a"}, iter([[0, 0, 1, 1, 0.1]])]
    return out


def _odd_probability_results():
    rng = np.random.default_rng(61)
    out = []
    for odd in [v for v in ODD_SCORES if v is not None] + [[0.5, 0.5]]:
        for n in (1, 2, 3, 10, 32, 33):
            raw = rng.random(n)
            probs = [float(v) for v in raw / raw.sum()]
            probs[int(rng.integers(n))] = odd
            out.append(probs)
            out.append(tuple(probs))
    for n in (2, 3, 7, 10, 32):
        out += [[1.0 / n] * n, [1.0] + [0.0] * (n - 1), [0.0] * n, [0] * (n - 1) + [1]]
    out += [[], (), None, [[0.5, 0.5]], [[0.5], [0.5]], "ab", np.array([0.25, 0.75]), {0.5: 1, 0.25: 2}]
    return out


@pytest.mark.parametrize("hem", [ThresholdFilter(0.5), ThresholdFilter(0.0), ThresholdFilter(-0.0),
                                 ThresholdFilter(1e308), ThresholdFilter(float("inf")), ThresholdFilter("nan"),
                                 IBTFilter(0.5, 0.5), IBTFilter(0.9, 1.5), IBTFilter(0.0, -0.5),
                                 IBTFilter(1.0, float("nan")), IBTFilter(float("nan"), 0.5)],
                         ids=lambda hem: f"{type(hem).__name__}{[v for k, v in vars(hem).items() if k[0] != '_']}")
def test_box_filters_fast_path_matches_numpy_path_on_odd_inputs(hem):
    with np.errstate(over="ignore"):  # the numpy path adding 1e308s
        for data in _odd_box_results():
            assert hem(data) is hem._decide(data), data


@pytest.mark.parametrize("threshold", [0.5, 0.0, 0.1, 0.9, 1.0, 1.5, -1.0, 1e20, -1e20, "inf", "nan"])
def test_cross_entropy_fast_path_matches_numpy_path_on_odd_inputs(threshold):
    hem = CrossEntropyFilter(threshold)
    for data in _odd_probability_results():
        assert hem(data) is hem._decide(data), data


def test_fast_paths_match_numpy_path_at_the_threshold(seeded_inputs):
    """A threshold exactly at numpy's own mean / confidence (and one float either side) is where a last-bit
    difference would show."""
    for boxes, probs in seeded_inputs[:3000]:
        mean = float(box_scores(boxes).mean())
        confidence = CrossEntropyFilter().confidence(probs)
        for t in (mean, math.nextafter(mean, math.inf), math.nextafter(mean, -math.inf)):
            hem = ThresholdFilter(t)
            assert hem(boxes) is hem._decide(boxes)
        for t in (confidence, math.nextafter(confidence, math.inf), math.nextafter(confidence, -math.inf)):
            hem = CrossEntropyFilter(t)
            assert hem(probs) is hem._decide(probs)
        score = boxes[0][4]
        for t in (score, math.nextafter(score, math.inf), math.nextafter(score, -math.inf)):
            hem = IBTFilter(0.5, t)
            assert hem(boxes) is hem._decide(boxes)


@pytest.mark.parametrize("threshold_img, threshold_box", [(0.1, 0.3), (0.7, 0.05), (1 / 3, 0.5)])
def test_ibt_fast_path_matches_numpy_path_on_seeded_inputs_other_thresholds(seeded_inputs, threshold_img,
                                                                            threshold_box):
    hem = IBTFilter(threshold_img, threshold_box)
    assert all(hem(b) is hem._decide(b) for b, _ in seeded_inputs[:20000])


@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.7, 0.95])
def test_threshold_and_cross_entropy_match_numpy_path_on_seeded_inputs_other_thresholds(seeded_inputs,
                                                                                          threshold):
    box_hem, prob_hem = ThresholdFilter(threshold), CrossEntropyFilter(threshold)
    assert all(box_hem(b) is box_hem._decide(b) for b, _ in seeded_inputs[:20000])
    assert all(prob_hem(p) is prob_hem._decide(p) for _, p in seeded_inputs[:20000])


@pytest.mark.parametrize("threshold", [0.5, 0.1, 1 / 3, -0.0, 0.0, 5e-324, -2.5, 1e308, -1e308, math.inf,
                                       -math.inf, math.nan])
def test_mean_cutoffs_equal_dividing(threshold):
    """``total < cutoffs[n]`` must be ``total / n < threshold`` for every float total."""
    rng = np.random.default_rng(7)
    cutoffs = _mean_cutoffs(threshold)
    for n in range(1, len(cutoffs)):
        c = cutoffs[n]
        totals = [c, math.nextafter(c, math.inf), math.nextafter(c, -math.inf), 0.0, -0.0, math.inf, -math.inf,
                  math.nan, threshold * n] + [float(v) for v in rng.normal(threshold * n, 1.0, 20)]
        for total in totals:
            assert (total < c) is (total / n < threshold), (n, total)


def test_fast_paths_match_numpy_path_on_random_vectors():
    """Uniform, peaked (u**8), tied and signed values of every magnitude, raw or normalised, 1-34 items, at
    random thresholds and at numpy's own confidence / mean."""
    rng = random.Random(5)
    values = (lambda: rng.random(), lambda: rng.random() ** 8,
              lambda: rng.choice([0.0, 1.0, 0.5, 0.25, 1e-300, 5e-324, 1 - 2**-53]),
              lambda: rng.uniform(-2, 2) * 10 ** rng.randint(-5, 5), lambda: round(rng.random(), 2))
    for _ in range(4000):
        n, value = rng.randint(1, 34), rng.choice(values)
        vals = [value() for _ in range(n)]
        if rng.random() < 0.5 and sum(vals) > 0:
            total = sum(vals)
            vals = [v / total for v in vals]
        boxes = [[0, 0, 1, 1, v, 0] for v in vals]
        confidence = CrossEntropyFilter().confidence(vals)
        with np.errstate(over="ignore"):
            mean = float(np.mean(vals))
        hems = [CrossEntropyFilter(rng.choice([0.1, 0.5, 0.9, 0.0, 1.0])), ThresholdFilter(mean),
                ThresholdFilter(math.nextafter(mean, math.inf)), ThresholdFilter(rng.uniform(-1, 2)),
                IBTFilter(rng.random(), rng.choice([rng.random(), vals[0]]))]
        if confidence is not None:
            hems.append(CrossEntropyFilter(confidence))
        for hem in hems:
            data = vals if isinstance(hem, CrossEntropyFilter) else boxes
            assert hem(data) is hem._decide(data), (hem, data)


def test_threshold_fast_path_is_on_with_this_numpy():
    """The once-per-process order check agrees with the installed numpy (else every Threshold call takes the numpy
    path: still correct, but the speed-up is gone and this says why)."""
    from sedna.algorithms.hard_example_mining import hard_example_mining

    ThresholdFilter()
    assert hard_example_mining._threshold_fast is True
