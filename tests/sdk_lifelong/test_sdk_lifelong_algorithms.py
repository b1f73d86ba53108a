"""Table tests of the seen-task, unseen-task and knowledge-management algorithms (pure logic)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sdk_lifelong_support import ATTRIBUTE, Estimator, generate, load_csv

import sedna.algorithms.knowledge_management
import sedna.algorithms.multi_task_learning
import sedna.algorithms.unseen_task_detection
import sedna.algorithms.unseen_task_processing  # noqa: F401
from sedna.algorithms.knowledge_management.artifacts import dump_samples, load_samples, looks_like_pickle
from sedna.algorithms.knowledge_management.kb_index import IndexDoc, apply_task_status, loads_index
from sedna.algorithms.seen_task_learning import Model, SeenTaskLearning, Task
from sedna.algorithms.seen_task_learning.artifact import subset
from sedna.algorithms.seen_task_learning.task_jobs.extractor import (
    SVCTaskExtractor,
    dump_extractor,
    extractor_suffix,
    load_extractor,
)
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.core.lifelong_learning.lifelong_learning import evaluate_tasks
from sedna.datasources import BaseDataSource

REGISTERED = {
    ClassType.STP: ["TaskDefinitionBySVC", "TaskDefinitionByDataAttr", "TaskDefinitionByOrigin", "TaskAllocationBySVC",
                    "TaskAllocationByDataAttr", "TaskAllocationDefault", "TaskAllocationByOrigin",
                    "TaskAllocationStream", "DefaultTaskRelationDiscover", "DefaultTaskRemodeling",
                    "DefaultInferenceIntegrate"],
    ClassType.MTL: ["TaskDefinitionBySVC", "TaskDefinitionByDataAttr", "TaskMiningBySVC", "TaskMiningByDataAttr",
                    "DefaultTaskRelationDiscover", "DefaultTaskRemodeling", "DefaultInferenceIntegrate"],
    ClassType.UTD: ["ModelProbeFilter", "TaskAttrFilter", "SampleRegonitionDefault", "SampleReRegonitionDefault",
                    "UnseenSampleDetection"],
    ClassType.UTP: ["UnseenTaskAllocationDefault"],
    ClassType.KM: ["CloudKnowledgeManagement", "EdgeKnowledgeManagement", "UpdateStrategyByFinetune"],
}


@pytest.mark.parametrize("type_name,names", list(REGISTERED.items()))
def test_upstream_names_are_registered(type_name, names):
    for name in names:
        assert ClassFactory.is_exists(type_name, name), f"{type_name}/{name}"


def frame(rows):
    ds = BaseDataSource(data_type="train")
    ds.x = pd.DataFrame(rows, columns=["season", "mode", "t"])
    ds.y = pd.Series([int(r[2] > 20) for r in rows])
    return ds


ROWS = [("Summer", "AC_1", 25.0), ("Winter", "NV", 18.0), ("Summer", "AC_1", 19.0), ("Winter", "NV", 22.0),
        ("Summer", "Mixed mode", 30.0)]


def test_task_definition_by_data_attr_groups_rows_and_names_tasks():
    definition = ClassFactory.get_cls(ClassType.STP, "TaskDefinitionByDataAttr")(attribute=["season", "mode"])
    tasks, extractor, samples = definition(frame(ROWS))
    assert [t.entry for t in tasks] == ["Summer_AC-1", "Summer_Mixedmode", "Winter_NV"]
    assert extractor == {"Summer_AC-1": 0, "Summer_Mixedmode": 1, "Winter_NV": 2}
    assert list(samples.x.columns) == ["t"]
    first = tasks[0]
    assert first.meta_attr == ["Summer", "AC_1"]
    assert list(first.samples.x["t"]) == [25.0, 19.0] and list(first.samples.y) == [1, 0]
    assert first.samples.inx == [0, 2]


@pytest.mark.parametrize("attribute", ["season, mode", '["season", "mode"]', ["season", "mode"]])
def test_attribute_forms(attribute):
    allocation = ClassFactory.get_cls(ClassType.STP, "TaskAllocationByDataAttr")(
        task_extractor={"Summer_AC-1": 0, "Winter_NV": 2}, attribute=attribute)
    samples, alloc = allocation(frame(ROWS))
    assert alloc == [0, 2, 0, 2, 0]  # unknown key → 0
    assert samples.meta_attr[4] == ["Summer", "Mixed mode"]
    assert "season" not in samples.x.columns


def test_data_attr_needs_attribute_and_frame():
    with pytest.raises(ValueError, match="attribute"):
        ClassFactory.get_cls(ClassType.STP, "TaskDefinitionByDataAttr")()
    ds = BaseDataSource()
    ds.x = np.zeros((3, 2))
    with pytest.raises(TypeError, match="DataFrame"):
        ClassFactory.get_cls(ClassType.STP, "TaskDefinitionByDataAttr")(attribute="a")(ds)
    with pytest.raises(ValueError, match="not in the samples"):
        ClassFactory.get_cls(ClassType.STP, "TaskDefinitionByDataAttr")(attribute="zzz")(frame(ROWS))


def test_svc_definition_and_allocation_agree_and_extractor_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    ds = BaseDataSource()
    ds.x = pd.DataFrame({"a": np.r_[rng.normal(0, 0.1, 20), rng.normal(5, 0.1, 20)],
                         "b": np.r_[rng.normal(0, 0.1, 20), rng.normal(5, 0.1, 20)]})
    ds.y = np.r_[np.zeros(20), np.ones(20)]
    tasks, extractor, _ = ClassFactory.get_cls(ClassType.STP, "TaskDefinitionBySVC")(n_class=2)(ds)
    assert sorted(t.entry for t in tasks) == ["svc_0", "svc_1"]
    assert sorted(len(t.samples.x) for t in tasks) == [20, 20]
    path = str(tmp_path / f"ext{extractor_suffix(extractor)}")
    dump_extractor(extractor, path)
    assert not looks_like_pickle(path)
    loaded = load_extractor(path)
    assert isinstance(loaded, SVCTaskExtractor)
    _, alloc = ClassFactory.get_cls(ClassType.STP, "TaskAllocationBySVC")(task_extractor=loaded)(ds)
    by_task = {t.entry: set(np.asarray(alloc)[t.samples.inx]) for t in tasks}
    assert by_task == {"svc_0": {0}, "svc_1": {1}}
    with pytest.raises(ValueError):
        ClassFactory.get_cls(ClassType.STP, "TaskDefinitionBySVC")(n_class=1)


def test_dict_extractor_round_trip_and_bad_file(tmp_path):
    path = str(tmp_path / "e.json")
    dump_extractor({"a": 0, "b": 1}, path)
    assert load_extractor(path) == {"a": 0, "b": 1}
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(ValueError):
        load_extractor(str(tmp_path / "bad.json"))
    with pytest.raises(TypeError):
        dump_extractor(object(), str(tmp_path / "o.json"))


@pytest.mark.parametrize("default,paths,expected", [
    (None, ["/d/berlin/x.png", "/d/carla/y.png", "/d/zurich_1.png"], [0, 1, 0]),
    ("sim", ["/d/berlin/x.png", "/d/carla/y.png"], [1, 1]),
])
def test_origin_allocation(default, paths, expected):
    ds = BaseDataSource(data_type="test")
    ds.x = paths
    _, alloc = ClassFactory.get_cls(ClassType.STP, "TaskAllocationByOrigin")(
        task_extractor={"real": 0, "sim": 1}, default=default)(ds)
    assert alloc == expected


def test_origin_definition_splits_by_city_in_label():
    ds = BaseDataSource()
    ds.x = ["a.png", "b.png", "c.png"]
    ds.y = ["gt/berlin/a.png", "gt/sim/b.png", "gt/berlin/c.png"]
    tasks, extractor, _ = ClassFactory.get_cls(ClassType.STP, "TaskDefinitionByOrigin")(
        attribute="real, sim", city="berlin")(ds)
    assert [(t.entry, t.samples.x) for t in tasks] == [("real.model", ["a.png", "c.png"]), ("sim.model", ["b.png"])]
    assert extractor == {"real": 0, "sim": 1}


def test_remodeling_and_integration_restore_order():
    ds = frame(ROWS)
    models = [Model(0, "a", "m0", None), Model(1, "b", "m1", None)]
    parts, chosen = ClassFactory.get_cls(ClassType.STP, "DefaultTaskRemodeling")(models=models)(ds, [1, 0, 7, 1, 0])
    assert [p.inx for p in parts] == [[1, 4], [0, 3], [2]]  # by allocation value: 0, 1, 7
    assert [m.entry for m in chosen] == ["a", "b", "a"]  # 7 is out of range → models[0]
    tasks = []
    for part in parts:
        task = Task("t", part)
        task.result = [f"p{i}" for i in part.inx]
        tasks.append(task)
    result = ClassFactory.get_cls(ClassType.STP, "DefaultInferenceIntegrate")(models=models)(tasks)
    assert list(result) == ["p0", "p1", "p2", "p3", "p4"]
    with pytest.raises(ValueError):
        ClassFactory.get_cls(ClassType.STP, "DefaultTaskRemodeling")(models=models)(ds, [0, 1])


def _task(model_attr, sample_attr):
    model = Model(0, "a", None, None)
    model.meta_attr = model_attr
    samples = BaseDataSource()
    samples.x = [0] * len(sample_attr)
    samples.meta_attr = sample_attr
    task = Task("a", samples)
    task.model = model
    return task


@pytest.mark.parametrize("tasks,unseen", [
    ([_task(["Summer", "AC"], [["Summer", "AC"]])], False),
    ([_task(["Summer", "AC"], [["Autumn", "AC"]])], True),
    ([_task(["Summer", "AC"], [["Autumn", "AC"]]), _task(["Winter", "NV"], [["Winter", "NV"]])], False),
    ([_task(None, [["Summer", "AC"]])], True),
    ([], True),
])
def test_task_attr_filter(tasks, unseen):
    assert ClassFactory.get_cls(ClassType.UTD, "TaskAttrFilter")()(tasks=tasks) is unseen


class Probe:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, x):
        return np.tile([self.p, 1 - self.p], (len(x), 1))


@pytest.mark.parametrize("p,threshold,unseen", [(0.95, 0.8, False), (0.55, 0.8, True), (0.5, 0.4, False)])
def test_model_probe_filter_reports_unconfident_input_as_unseen(p, threshold, unseen):
    task = _task(None, [[1]])
    task.estimator = Probe(p)
    assert ClassFactory.get_cls(ClassType.UTD, "ModelProbeFilter")()(tasks=[task], threshold=threshold) is unseen


def test_model_probe_filter_without_probabilities_is_unseen():
    task = _task(None, [[1]])
    task.estimator = object()
    assert ClassFactory.get_cls(ClassType.UTD, "ModelProbeFilter")()(tasks=[task]) is True


def test_default_sample_recognition_splits_halves():
    ds = frame(ROWS)
    seen, unseen = ClassFactory.get_cls(ClassType.UTD, "SampleRegonitionDefault")(None)(ds)
    assert seen.inx == [0, 1] and unseen.inx == [2, 3, 4]
    seen, unseen = ClassFactory.get_cls(ClassType.UTD, "SampleReRegonitionDefault")(None)(ds)
    assert list(unseen.y) == [0, 1, 1]
    one = subset(ds, [0])
    seen, unseen = ClassFactory.get_cls(ClassType.UTD, "SampleRegonitionDefault")(None)(one)
    assert len(seen.x) + len(unseen.x) == 1


def test_recognition_by_task_attr_uses_the_kb_extractor():
    index = {"seen_task": {"extractor": {"Summer_AC-1": 0, "Winter_NV": 1}, "task_groups": []}}
    recogniser = ClassFactory.get_cls(ClassType.UTD, "SampleRecognitionByTaskAttr")(index, attribute="season,mode")
    seen, unseen = recogniser(frame(ROWS))
    assert seen.inx == [0, 1, 2, 3] and unseen.inx == [4]


def test_unseen_task_allocation_default_falls_back_to_zero():
    ds = frame(ROWS)
    alloc_cls = ClassFactory.get_cls(ClassType.UTP, "UnseenTaskAllocationDefault")
    assert alloc_cls(None)(ds)[1] == [0] * 5

    class Ext:
        def predict(self, x):
            return [1] * len(x)

    assert alloc_cls(Ext())(ds)[1] == [1] * 5


@pytest.mark.parametrize("operator,threshold,dropped", [
    (None, None, "bad"),  # default: drop tasks scoring below 0.1
    ("<", 0.6, "mid,bad"),
    (">", 0.6, "good"),
    (">=", 0.5, "good,mid"),
    ("=", 0.5, "mid"),
    ("!", 0.6, "mid,bad"),  # unknown → "<"
])
def test_evaluate_tasks(monkeypatch, operator, threshold, dropped):
    monkeypatch.delenv("operator", raising=False)
    monkeypatch.delenv("model_threshold", raising=False)
    tasks = []
    for entry, score in (("good", 0.9), ("mid", 0.5), ("bad", 0.05)):
        task = Task(entry, None)
        task.scores = {"precision": score}
        tasks.append(task)
    assert evaluate_tasks(tasks, operator, threshold) == dropped
    if operator is not None:
        monkeypatch.setenv("operator", operator)
        monkeypatch.setenv("model_threshold", str(threshold))
        assert evaluate_tasks(tasks) == dropped


def _doc():
    groups = [{"entry": e, "tasks": [{"entry": e}], "model": {"index": i, "entry": e, "model": f"/m/{e}"}}
              for i, e in enumerate(["a", "b", "c"])]
    return IndexDoc.model_validate({"create_time": "1", "seen_task": {"task_groups": groups}})


@pytest.mark.parametrize("names,status,models,deploy", [
    (["b"], 0, ["/m/a", "/m/a", "/m/c"], [True, False, True]),
    (["a"], 0, ["/m/b", "/m/b", "/m/c"], [False, True, True]),
    (["c"], 1, ["/m/c", "/m/c", "/m/c"], [False, False, True]),
    ([], 0, ["/m/a", "/m/b", "/m/c"], [True, True, True]),
])
def test_apply_task_status(names, status, models, deploy):
    out = apply_task_status(_doc(), names, status)
    assert [g.model.model for g in out.seen_task.task_groups] == models
    assert [g.deploy for g in out.seen_task.task_groups] == deploy
    assert [g.model.index for g in out.seen_task.task_groups] == [0, 1, 2]


def test_index_document_rejects_garbage():
    with pytest.raises(ValueError):
        loads_index(b"\x80\x04not json")
    with pytest.raises(ValueError):
        loads_index('{"seen_task": {"task_groups": [{"entry": ""}]}}')


def test_samples_round_trip_without_pickle(tmp_path):
    ds = frame(ROWS)
    ds.meta_attr = [["Summer", "AC_1"]] * 5
    path = dump_samples(ds, str(tmp_path / "s.sample"))
    assert not looks_like_pickle(path)
    back = load_samples(path)
    assert list(back.x.columns) == ["season", "mode", "t"] and list(back.y) == list(ds.y)
    arr = BaseDataSource()
    arr.x = np.arange(6.0).reshape(3, 2)
    back = load_samples(dump_samples(arr, str(tmp_path / "a.sample")))
    assert back.x.shape == (3, 2) and back.y is None


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    paths = generate(str(tmp_path_factory.mktemp("data")), rows=240, seed=3)
    return load_csv(paths["trainData.csv"]), load_csv(paths["testData.csv"], "eval")


def _learner(tmp_path, **kw):
    definition = {"method": "TaskDefinitionByDataAttr", "param": ATTRIBUTE}
    return SeenTaskLearning(Estimator, task_definition=definition, work_dir=str(tmp_path), **kw)


def test_seen_task_learning_per_task_models_beat_one_global_model(tmp_path, monkeypatch, data):
    train, test = data
    per_task = _learner(tmp_path / "tasks")
    feedback, index = per_task.train(train, valid_data=test)
    assert [g.entry for g in index["task_groups"]] == ["Summer_AirConditioned", "Summer_NaturallyVentilated",
                                                       "Winter_AirConditioned", "Winter_NaturallyVentilated"]
    assert len({g.model.model for g in index["task_groups"]}) == 4
    overall, tasks = per_task.evaluate(test)
    assert feedback == overall
    assert 0.8 <= overall["precision_score"] <= 1.0
    assert all(0.6 <= t.scores["precision_score"] <= 1.0 for t in tasks)
    assert "Season" in test.x.columns  # the caller's data is untouched

    monkeypatch.setenv("MIN_TRAIN_SAMPLE", "100000")  # every task is rare → one global model
    global_only = _learner(tmp_path / "global")
    _, gindex = global_only.train(train)
    assert {g.model.model for g in gindex["task_groups"]} == {str(tmp_path / "global" / "global.model")}
    g_overall, _ = global_only.evaluate(test)
    assert overall["precision_score"] > g_overall["precision_score"] + 0.05


def test_rare_threshold_strict_for_multi_task_learning(tmp_path, monkeypatch, data):
    from sedna.algorithms.multi_task_learning import MulTaskLearning

    train, _ = data
    monkeypatch.setenv("MIN_TRAIN_SAMPLE", "60")  # each of the 4 tasks has exactly 60 rows
    _, index = _learner(tmp_path / "stl").train(train)
    assert not any(g.model.model.endswith("global.model") for g in index["task_groups"])
    mtl = MulTaskLearning(Estimator, task_definition={"method": "TaskDefinitionByDataAttr", "param": ATTRIBUTE},
                          task_mining={"method": "TaskMiningByDataAttr", "param": ATTRIBUTE},
                          work_dir=str(tmp_path / "mtl"))
    _, index = mtl.train(train)
    assert all(g.model.model.endswith("global.model") for g in index["task_groups"])


@pytest.mark.parametrize("metrics,params,names", [
    (None, None, ["precision_score"]),
    ("accuracy_score", None, ["accuracy_score"]),
    (["accuracy_score", "recall_score"], {"average": "macro"}, ["accuracy_score", "recall_score"]),
    ({"acc": "accuracy_score"}, None, ["acc"]),
])
def test_evaluate_metric_forms(tmp_path, data, metrics, params, names):
    train, test = data
    learner = _learner(tmp_path)
    learner.train(train)
    overall, tasks = learner.evaluate(test, metrics=metrics, metrics_param=params)
    assert sorted(overall) == sorted(names)
    assert all(0.0 <= v <= 1.0 for v in overall.values())
    assert all(sorted(t.scores) == sorted(names) for t in tasks)


def test_predict_before_training_is_an_error(data):
    with pytest.raises(RuntimeError, match="train or load"):
        SeenTaskLearning(Estimator).predict(data[1])


def test_unseen_task_processing_estimator_forms():
    from sedna.algorithms.unseen_task_processing import UnseenTaskProcessing

    ds = frame(ROWS)
    assert UnseenTaskProcessing(None).predict(ds) == ([None] * 5, [])

    def warning():
        return "Warning: unseen sample detected."

    result, tasks = UnseenTaskProcessing(warning).predict(ds)
    assert result == ["Warning: unseen sample detected."] * 5 and len(tasks) == 1
    result, _ = UnseenTaskProcessing(lambda x: [len(x)] * len(x)).predict(ds)
    assert result == [5] * 5

    class Majority:
        def predict(self, x, **kwargs):
            return np.zeros(len(x), dtype=int)

    assert UnseenTaskProcessing(Majority).predict(ds)[0] == [0] * 5
    assert UnseenTaskProcessing(Majority()).train() == ({}, {"extractor": None, "task_groups": []})


def test_unseen_sample_detection_copies_images_around_a_fall(tmp_path):
    from sedna.algorithms.unseen_task_detection import UnseenSampleDetection

    images = tmp_path / "images"
    images.mkdir()
    for stamp in range(100, 130):
        (images / f"{stamp}.png").write_bytes(str(stamp).encode())

    class Edge:
        local_unseen_save_url = str(tmp_path / "unseen")

    (tmp_path / "unseen").mkdir()
    statuses = iter([{"if_fall": "False"}, {"if_fall": "True", "time_stamp": "115"},
                     {"if_fall": "True", "time_stamp": "116"}, {"if_fall": "False"},
                     {"if_fall": "True", "time_stamp": "129"}])
    detector = UnseenSampleDetection(Edge(), image_dir=str(images), fetch_status=lambda: next(statuses))
    assert detector.check_once() == []
    copied = detector.check_once()
    assert sorted(os.path.basename(p) for p in copied) == [f"{s}.png" for s in range(110, 120)]
    assert detector.check_once() == []  # still falling: nothing new
    assert detector.check_once() == []
    assert len(detector.check_once()) == 10  # a new fall near the end of the recording
    assert sorted(os.listdir(tmp_path / "unseen")) == [f"{s}.png" for s in range(110, 130)]


@pytest.mark.parametrize("config,expected", [
    (None, ("Dflt", {})),
    ("Name", ("Name", {})),
    ({"method": "M", "param": '{"a": 1}'}, ("M", {"a": 1})),
    ({"method": "M", "param": ""}, ("M", {})),
    ({"param": {"a": 1}}, ("Dflt", {"a": 1})),
    ({"method": "M", "param": '[{"key": "threshold", "value": "0.3"}, {"key": "x"}]'}, ("M", {"threshold": "0.3", "x": ""})),
])
def test_algorithm_config_forms(config, expected):
    from sedna.algorithms.seen_task_learning.seen_task_learning import algorithm_config

    assert algorithm_config(config, "Dflt") == expected


@pytest.mark.parametrize("config", [{"method": "M", "param": "{not json"}, {"method": "M", "param": "[1, 2]"}])
def test_algorithm_config_rejects_bad_params(config):
    from sedna.algorithms.seen_task_learning.seen_task_learning import algorithm_config

    with pytest.raises((ValueError, TypeError), match="M"):
        algorithm_config(config, "Dflt")


def test_update_strategy_by_finetune_splits_by_city():
    from sedna.algorithms.seen_task_learning import TaskGroup

    groups = []
    for entry, origin in (("real.model", "real"), ("sim.model", "sim")):
        group = TaskGroup(entry, [])
        group.model = Model(0, entry, f"/m/{entry}", None)
        group.model.meta_attr = origin
        groups.append(group)
    ds = BaseDataSource()
    ds.x = ["a.png", "b.png", "c.png"]
    ds.y = ["gt/berlin/a.png", "gt/carla/b.png", "gt/berlin/c.png"]
    decision = ClassFactory.get_cls(ClassType.KM, "UpdateStrategyByFinetune")(
        {"seen_task": {"task_groups": groups}}, attribute="real, sim", city="berlin")
    tasks, strategies = decision(ds, task_type="seen_task")
    assert [(t.entry, t.samples.x) for t in tasks] == [("real.model", ["a.png", "c.png"]), ("sim.model", ["b.png"])]
    assert all(s["target_model_update"] and s["task_attr_update"] is None for s in strategies)
    assert strategies[0]["raw_data_update"].x == ["a.png", "c.png"]


def test_update_strategy_default_merges_old_samples(tmp_path):
    from sedna.algorithms.seen_task_learning import TaskGroup

    old = BaseDataSource()
    old.x = pd.DataFrame({"t": [1.0, 2.0]})
    old.y = np.array([0, 1])
    path = dump_samples(old, str(tmp_path / "old.sample"))
    group = TaskGroup("Summer_AC-1", [])
    group.samples_url = "kb://old"
    decision = ClassFactory.get_cls(ClassType.KM, "UpdateStrategyDefault")(
        {"seen_task": {"task_groups": [group]}},
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": ["season", "mode"]}},
        fetch=lambda url: {"kb://old": path}[url])
    tasks, strategies = decision(frame(ROWS))
    by_entry = {t.entry: s["raw_data_update"] for t, s in zip(tasks, strategies)}
    assert sorted(by_entry) == ["Summer_AC-1", "Summer_Mixedmode", "Winter_NV"]
    assert list(by_entry["Summer_AC-1"].x["t"]) == [1.0, 2.0, 25.0, 19.0]
    assert list(by_entry["Summer_AC-1"].y) == [0, 1, 1, 0]
    assert list(by_entry["Winter_NV"].x["t"]) == [18.0, 22.0]


def test_edge_services_poll_the_index_and_upload_unseen_samples(tmp_path):
    import time

    from sedna.algorithms.knowledge_management import EdgeKnowledgeManagement

    index = tmp_path / "deploy" / "index.pkl"
    index.parent.mkdir()
    index.write_text(IndexDoc(create_time="1").model_dump_json())
    edge = EdgeKnowledgeManagement(edge_output_url=str(tmp_path / "edge"), unseen_save_url=str(tmp_path / "cloud"),
                                   poll_period=0.05)
    edge.update_kb(str(index))
    assert edge.current_index_version == "1" and not edge.needs_update()
    edge.start_services(str(index))
    try:
        index.write_text(IndexDoc(create_time="2").model_dump_json())
        sample = tmp_path / "edge" / "unseen_samples" / "s1.csv"
        sample.write_text("a,b\n1,2\n")
        os.utime(sample, (time.time() - 5, time.time() - 5))
        deadline = time.monotonic() + 60  # generous: a loaded CI machine polls slowly
        while time.monotonic() < deadline and not (edge.lastest_index_version == "2"
                                                   and (tmp_path / "cloud" / "s1.csv").exists()):
            time.sleep(0.05)
        assert edge.lastest_index_version == "2" and edge.needs_update()
        assert (tmp_path / "cloud" / "s1.csv").read_text() == "a,b\n1,2\n"
    finally:
        edge.stop_services()


def test_predict_rejects_empty_input_and_load_swaps_the_index(tmp_path, data):
    train, test = data
    learner = _learner(tmp_path)
    _, index = learner.train(train)
    empty = BaseDataSource(data_type="test")
    with pytest.raises(ValueError, match="no samples"):
        learner.predict(empty)
    other = _learner(tmp_path / "other")
    other.load(index)
    assert other.extractor == index["extractor"] and other.models == [g.model for g in index["task_groups"]]
    assert list(other.predict(test)[0]) == list(learner.predict(test)[0])
