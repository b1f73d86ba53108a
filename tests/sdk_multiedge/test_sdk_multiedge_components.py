"""Multi-edge components: batching, shared-folder files, plugins, optical flow, matching, and the three
components wired together in one process over real loopback REST."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sdk_multiedge_support import loopback_env

from sedna.algorithms.optical_flow import LukasKanade, good_features_to_track, pyramidal_lucas_kanade
from sedna.algorithms.reid.multi_img_matching import cosine_similarity_score, match_query_to_targets
from sedna.backend import BackendNotInstalledError
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.core.multi_edge_inference import codec
from sedna.core.multi_edge_inference.components import BaseService, FileOperations
from sedna.core.multi_edge_inference.data_classes import DetTrackResult
from sedna.core.multi_edge_inference.plugins import PLUGIN, PluggableModel, PluggableNetworkService
from sedna.core.multi_edge_inference.plugins.registered import Feature_Extraction_I, VideoAnalytics_I

pytestmark = pytest.mark.timeout(60)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi_edge_inference"


def _load(name: str):
    """The example's modules under unique names (other tests' examples have a ``models`` too)."""
    spec = importlib.util.spec_from_file_location(f"multi_edge_example_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example_models = _load("models")
scene = _load("scene")


class Collecting(BaseService):
    def __init__(self, **kwargs):
        self.batches: list = []
        self.done = threading.Event()
        super().__init__(**kwargs)

    def process_data(self, ai, data, **kwargs):
        self.batches.append((ai, list(data), threading.current_thread().name))
        self.done.set()

    def update_operational_mode(self, status):
        return status


@pytest.fixture
def loopback(monkeypatch, tmp_path):
    loopback_env(monkeypatch, tmp_path)
    return tmp_path


# -- batching ------------------------------------------------------------------------------------------------


def test_synchronous_batches_are_processed_by_the_caller_in_order(monkeypatch):
    monkeypatch.setenv("batch_size", "3")
    service = Collecting(models=["m1", "m2"], timeout=30)
    try:
        service.put((1, "a"))
        service.put([(2, "b"), [(3, "c")]])
        assert service.batches == []
        service.put((4, "d"))
        me = threading.current_thread().name
        assert service.batches == [("m1", [(1, "a"), (2, "b"), (3, "c"), (4, "d")], me),
                                   ("m2", [(1, "a"), (2, "b"), (3, "c"), (4, "d")], me)]
        service.put(None)
        service.put([])
        assert service.flush() == 0
    finally:
        service.close()


def test_leftovers_are_flushed_after_the_timeout(monkeypatch):
    monkeypatch.setenv("batch_size", "5")
    service = Collecting(models=["m"], timeout=0.3)
    try:
        service.put("x")
        service.put("y")
        assert service.done.wait(5)
        assert service.batches[0][1] == ["x", "y"] and service.batches[0][2] != threading.current_thread().name
    finally:
        service.close()


def test_asynchronous_mode_processes_in_the_worker(monkeypatch):
    monkeypatch.setenv("batch_size", "2")
    service = Collecting(models=["m"], timeout=30, asynchronous=True)
    try:
        service.put("a")
        service.put("b")
        assert service.done.wait(5)
        assert service.batches == [("m", ["a", "b"], service._worker.name)]
        service.put("c")
    finally:
        service.close()  # flushes the leftover
    assert [b[1] for b in service.batches] == [["a", "b"], ["c"]]


def test_bad_batch_size_and_mixed_models(monkeypatch):
    monkeypatch.setenv("batch_size", "many")
    with pytest.raises(ValueError, match="batch_size"):
        Collecting(models=["m"])
    monkeypatch.setenv("batch_size", "1")
    with pytest.raises(ValueError, match="one type"):
        Collecting(models=["m", 1])


def test_kafka_needs_the_extra_or_brokers(monkeypatch):
    monkeypatch.setenv("KAFKA_ENABLED", "true")
    with pytest.raises(ValueError, match="KAFKA_BIND_IPS"):
        Collecting(models=["m"], consumer_topics=["t"])
    monkeypatch.setenv("KAFKA_BIND_IPS", "127.0.0.1")
    monkeypatch.setenv("KAFKA_BIND_PORTS", "1")
    try:
        import kafka  # noqa: F401
    except ImportError:
        with pytest.raises(BackendNotInstalledError, match="kafka"):
            Collecting(models=["m"], consumer_topics=["t"])
    monkeypatch.setenv("KAFKA_ENABLED", "maybe")
    with pytest.raises(ValueError, match="boolean"):
        Collecting(models=["m"])


def test_kafka_values_are_decoded_before_put(monkeypatch):
    service = Collecting(models=["m"], timeout=30)
    try:
        service._on_kafka_batch([codec.encode(DetTrackResult(frame_index=4)), b"\xc1garbage", {"plain": 1}])
        items = service.batches[0][1]
        assert [type(i).__name__ for i in items] == ["DetTrackResult", "dict"]
    finally:
        service.close()


# -- files -----------------------------------------------------------------------------------------------------


def test_shared_folder_files(tmp_path):
    ops = FileOperations()
    folder = str(tmp_path / "shared")
    path = ops.write_to_disk([DetTrackResult(frame_index=2, scene=np.ones((2, 2)))], folder)
    assert path.endswith(".dat") and ops.get_files_list(folder) == [path]
    data = ops.read_from_disk(path)
    assert data[0].frame_index == 2 and data[0].scene.sum() == 4
    (tmp_path / "shared" / "evil.dat").write_bytes(__import__("pickle").dumps([1]))
    assert ops.read_from_disk(str(tmp_path / "shared" / "evil.dat")) == []
    assert ops.read_from_disk(str(tmp_path / "missing.dat")) == []
    ops.delete_from_disk(path)
    assert not Path(path).exists()
    assert ops.get_files_list(str(tmp_path / "nowhere")) == []


# -- plugins and models ----------------------------------------------------------------------------------------


def test_plugin_names_and_env(monkeypatch):
    class NotAPlugin(PluggableNetworkService):
        pass

    with pytest.raises(ValueError, match="not registered"):
        NotAPlugin("127.0.0.1", 1)
    monkeypatch.delenv("FE_MODEL_BIND_URL", raising=False)
    monkeypatch.delenv("FE_MODEL_BIND_PORT", raising=False)
    plugin = Feature_Extraction_I()
    assert plugin.kind == "FEATURE_EXTRACTION_I" and plugin.plugin_api.endpoint == \
        "http://feature-extraction-fe:6000/feature_extraction"
    monkeypatch.setenv("DET_MODEL_BIND_URL", "10.1.2.3")
    monkeypatch.setenv("DET_MODEL_BIND_PORT", "4100")
    assert VideoAnalytics_I().plugin_api.endpoint == "http://10.1.2.3:4100/video_analytics"
    monkeypatch.setenv("DET_MODEL_BIND_PORT", "port")
    with pytest.raises(ValueError, match="DET_MODEL_BIND_PORT"):
        VideoAnalytics_I()


def test_pluggable_model_needs_its_file(monkeypatch, tmp_path):
    monkeypatch.delenv("MODEL_URL", raising=False)
    monkeypatch.setenv("model_path", str(tmp_path / "absent.json"))
    with pytest.raises(FileExistsError, match="absent.json"):
        example_models.ColorHistogramFE()
    (tmp_path / "fe.json").write_text(json.dumps({"bins": 2}))
    monkeypatch.setenv("model_path", str(tmp_path / "fe.json"))
    model = example_models.ColorHistogramFE()
    assert isinstance(model, PluggableModel) and model.bins == 2
    result = DetTrackResult(scene=np.zeros((10, 10, 3), np.uint8), bbox_coord=[[0, 0, 4, 6]])
    out = model.inference([result], post_process=lambda res: [r.features[0].shape for r in res])
    assert out == [(1, 16)]
    with pytest.raises(TypeError):
        model.train()


# -- optical flow and matching ---------------------------------------------------------------------------------


def test_optical_flow_detects_motion_only():
    still, moved = scene.render(3), scene.render(4)
    flow = LukasKanade()
    assert flow(still, still.copy()) is False
    assert flow(still, moved) is True
    assert flow(np.zeros((50, 50, 3), np.uint8), still[:50, :50]) is False  # nothing to track
    assert ClassFactory.get_cls(ClassType.OF, "LukasKanadeOF") is LukasKanade
    assert ClassFactory.is_exists(ClassType.OF, "LukasKanadeOF_CUDA")


def test_lucas_kanade_measures_the_shift():
    base = np.zeros((80, 80), np.float32)
    base[20:40, 30:45] = 200
    shifted = np.roll(np.roll(base, 2, axis=1), 3, axis=0)
    points = good_features_to_track(base)
    assert 1 <= len(points) <= 100
    tracked, status = pyramidal_lucas_kanade(base, shifted, points)
    assert status.any()
    assert np.allclose((tracked - points)[status], [2, 3], atol=0.3)


def test_matching():
    q = [np.array([[1.0, 0.0]]), np.array([[0.8, 0.6]])]
    c = [np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])]
    assert match_query_to_targets(q, c) == (1, 1.0)
    index, score = match_query_to_targets(q, c, avg_mode=True)
    assert index == 1 and score == pytest.approx(0.9)
    assert cosine_similarity_score(q, c).shape == (2, 2)
    assert match_query_to_targets([], c) == (-1, float("-inf"))
    with pytest.raises(ValueError, match="dimensions"):
        cosine_similarity_score(q, [np.ones(3)])


# -- the three components together -----------------------------------------------------------------------------


def test_pipeline_in_one_process_reidentifies_the_target(loopback, monkeypatch):
    from sedna.core.multi_edge_inference.components.detector import ObjectDetector
    from sedna.core.multi_edge_inference.components.feature_extraction import FEService
    from sedna.core.multi_edge_inference.components.reid import ReID

    tmp = loopback
    (tmp / "fe.json").write_text(json.dumps({"bins": 4}))
    (tmp / "det.json").write_text(json.dumps({"threshold": 100, "min_area": 60}))
    np.save(tmp / "query.npy", scene.query_image())
    monkeypatch.setenv("model_path", str(tmp / "fe.json"))
    fe = FEService(models=[example_models.ColorHistogramFE()])
    detector = reid = None
    try:
        fe_port = fe.get_plugin(PLUGIN.FEATURE_EXTRACTION).port
        assert fe_port > 0
        monkeypatch.setenv("FE_MODEL_BIND_PORT", str(fe_port))
        monkeypatch.setenv("model_path", str(tmp / "det.json"))
        detector = ObjectDetector(models=[example_models.BrightBoxDetector(video_id="cam-9")])
        fe.get_plugin(PLUGIN.VIDEO_ANALYTICS_I).set_address("127.0.0.1", detector.get_plugin(PLUGIN.VIDEO_ANALYTICS).port)
        frames = [scene.render(i) for i in range(6)] + [scene.render(5)]  # the last one does not move
        for i, frame in enumerate(frames):
            detector.put((frame, "Thu, 26 November 2026 10:00:00.000000", i))
        assert detector.frames_dropped == 1
        assert detector.data_counter == 6  # enriched results came back synchronously
        files = detector.get_files_list(str(tmp / "shared"))
        assert len(files) == 6

        monkeypatch.setenv("user_id", "alice")
        monkeypatch.setenv("query_images", str(tmp / "query.npy"))
        monkeypatch.setenv("results_file", str(tmp / "results.jsonl"))
        matcher = example_models.ReIDMatcher()
        reid = ReID(models=[matcher], asynchronous=False)
        assert reid.targets_loaded and matcher.targets_list[0].userid == "alice"
        for path in files:
            reid.put(reid.read_from_disk(path))
        records = [json.loads(line) for line in (tmp / "results.jsonl").read_text().splitlines()]
        assert sorted(r["frame_index"] for r in records) == list(range(6))
        for r in records:
            assert r["box"] == scene.truth(r["frame_index"])["target"] and r["camera"] == "cam-9"
        # the ReID server answers matches synchronously
        api = reid.get_plugin(PLUGIN.REID).plugin_api
        from sedna.service.multi_edge_inference.interface import ReID_Endpoint

        answer = ReID_Endpoint("reid", ip="127.0.0.1", port=api.port, retries=1).transmit(detector.read_from_disk(files[0]))
        assert len(answer) == 1 and answer[0].userID == "alice" and "alice" in answer[0].targetID
    finally:
        for component in (reid, detector, fe):
            if component is not None:
                component.close()


def test_reid_without_feature_extraction_starts_without_a_target(loopback, monkeypatch):
    from sedna.core.multi_edge_inference.components.reid import ReID

    monkeypatch.setenv("FE_MODEL_BIND_PORT", "1")
    monkeypatch.setenv("MULTI_EDGE_RETRIES", "1")

    class Matcher:
        def update_plugin(self, status):
            return [DetTrackResult()]

        def update_target(self, targets):
            raise AssertionError("no target can arrive")

        def predict(self, data):
            return data

    started = time.monotonic()
    reid = ReID(models=[Matcher()], asynchronous=False)
    try:
        assert not reid.targets_loaded and time.monotonic() - started < 20
        assert [r.frame_index for r in reid.inference([DetTrackResult(frame_index=1)])] == [1]
    finally:
        reid.close()
