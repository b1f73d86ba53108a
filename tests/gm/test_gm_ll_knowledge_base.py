"""``status.knowledgeBase`` of a LifelongLearningJob: counts filled from train reports, kept through eval."""

from __future__ import annotations

from sedna.gm.controllers.lifelonglearningjob import knowledge_base

ROUND1 = {"classes": ["a", "b"], "current_metric": {"a": {"p": 0.9}, "b": {"p": 0.8}},
          "number_of_labeled_unseen_sample": 0, "number_of_unseen_sample": 0, "task_samples": {"a": 70, "b": 30}}
EVAL = {"classes": ["a", "b"], "current_metric": {"a": {"p": 0.95}, "b": {"p": 0.7}}}
ROUND2 = {"classes": ["a", "b", "c"], "current_metric": {"a": {"p": 0.9}, "b": {"p": 0.8}, "c": {"p": 0.6}},
          "number_of_labeled_unseen_sample": 12, "number_of_unseen_sample": 12, "task_samples": {"c": 12}}


def models_of(kb):
    return {m["modelID"]: (m["averagePrecision"], m["numberOfTrainSamples"])
            for m in kb["AIModels"]["listOfAIModels"]}


def test_counts_through_two_rounds():
    r1 = knowledge_base([ROUND1])
    assert models_of(r1) == {"a": (0.9, 70), "b": (0.8, 30)}
    assert r1["samples"] == {"numberOfLabeledUnseenSample": 0, "numberOfUnseenSample": 0}
    ev = knowledge_base([EVAL], r1)                      # eval: new precisions, sample counts kept
    assert models_of(ev) == {"a": (0.95, 70), "b": (0.7, 30)}
    r2 = knowledge_base([ROUND2], ev)                    # update: the new task's count, the others kept
    assert models_of(r2) == {"a": (0.9, 70), "b": (0.8, 30), "c": (0.6, 12)}
    assert r2["AIClasses"] == {"numberOfAIClasses": 3, "listOfAIClasses": ["a", "b", "c"]}
    assert r2["samples"] == {"numberOfLabeledUnseenSample": 12, "numberOfUnseenSample": 12}
    assert knowledge_base([EVAL], r2)["samples"] == r2["samples"]


def test_upstream_shaped_report_without_previous_status():
    kb = knowledge_base([{"classes": None, "current_metric": {"x": {}}, "number_of_labeled_unseen_sample": 3}])
    assert models_of(kb) == {"x": (0.0, 3)}
    assert kb["samples"] == {"numberOfLabeledUnseenSample": 3, "numberOfUnseenSample": 0}
