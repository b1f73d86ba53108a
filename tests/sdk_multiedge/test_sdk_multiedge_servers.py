"""The multi-edge REST servers on free loopback ports, called by the real clients and by raw httpx."""

from __future__ import annotations

import pickle
import threading

import httpx
import numpy as np
import pytest

from sedna.core.multi_edge_inference import codec
from sedna.core.multi_edge_inference.data_classes import DetTrackResult, Target
from sedna.service.multi_edge_inference.interface import FE, Detection, ReID_Endpoint
from sedna.service.multi_edge_inference.server import DetectionServer, FEServer, ReIDServer

pytestmark = pytest.mark.timeout(60)


class RecordingComponent:
    """Stands in for a component: records what the servers hand it."""

    def __init__(self):
        self.put_calls: list = []
        self.updates: list = []
        self.event = threading.Event()

    def put(self, data):
        if isinstance(data, list) and data and data[0] == "boom":
            raise RuntimeError("component exploded")
        if isinstance(data, list) and data and data[0] == "bad":
            raise ValueError("bad input")
        self.put_calls.append(data)
        self.event.set()

    def update_operational_mode(self, status):
        self.updates.append(status)

    def get_target_features(self, ldata):
        return [Target(q.userID, [np.full((1, 8), float(len(q.bbox)), np.float32)]) for q in ldata]

    def inference(self, data):
        return [d for d in data if isinstance(d, DetTrackResult) and d.frame_index % 2 == 0]


def start(server_cls, service_name, **kwargs):
    component = RecordingComponent()
    server = server_cls(component, service_name, "127.0.0.1", 0, **kwargs).start_background()
    return component, server


@pytest.fixture
def detection():
    component, server = start(DetectionServer, "video_analytics")
    yield component, server
    server.stop()


@pytest.fixture
def fe():
    component, server = start(FEServer, "feature_extraction", max_buffer_size=64 * 1024)
    yield component, server
    server.stop()


@pytest.fixture
def reid():
    component, server = start(ReIDServer, "reid")
    yield component, server
    server.stop()


def client(cls, name, server, **kwargs):
    return cls(name, ip="127.0.0.1", port=server.port, retries=1, retry_interval=0, **kwargs)


@pytest.mark.parametrize("wire_format", ["msgpack", "json"])
def test_detection_transmit_and_update(detection, wire_format):
    component, server = detection
    api = client(Detection, "video_analytics", server, wire_format=wire_format)
    result = DetTrackResult(frame_index=3, scene=np.zeros((4, 4, 3), np.uint8), bbox_coord=[[0, 0, 2, 2]])
    assert api.transmit([result]) == 200
    assert len(component.put_calls) == 1
    got = component.put_calls[0]
    assert isinstance(got, list) and type(got[0]) is DetTrackResult and got[0].frame_index == 3
    assert got[0].scene.shape == (4, 4, 3)
    # a single object is handed over as a one-item list, as upstream's put([obj])
    assert api.transmit(result) == 200
    assert isinstance(component.put_calls[1], list) and len(component.put_calls[1]) == 1
    assert api.update_service({"mode": "tracking"}) == 200
    assert component.updates == [{"mode": "tracking"}]
    assert api.check_server_status()["contentTypes"] == [codec.MSGPACK_CONTENT_TYPE, codec.JSON_CONTENT_TYPE]
    assert httpx.get(f"{server.url}/status").json() == "OK"


@pytest.mark.parametrize("wire_format", ["msgpack", "json"])
def test_fe_get_target_features_answers_targets(fe, wire_format):
    component, server = fe
    api = client(FE, "feature_extraction", server, wire_format=wire_format)
    query = DetTrackResult(0, [np.zeros((6, 3, 3), np.uint8)] * 3, None, [], 0, 0)
    query.userID = "alice"
    targets = api.get_target_features([query])
    assert len(targets) == 1 and type(targets[0]) is Target and targets[0].userid == "alice"
    assert targets[0].features[0].shape == (1, 8) and float(targets[0].features[0][0, 0]) == 3.0
    assert api.transmit([query]) == 200 and component.put_calls[0][0].userID == "alice"


def test_reid_answers_results(reid):
    _, server = reid
    api = client(ReID_Endpoint, "reid", server)
    frames = [DetTrackResult(frame_index=i) for i in range(4)]
    got = api.transmit(frames)
    assert [r.frame_index for r in got] == [0, 2]


def test_reid_server_queues_when_the_component_has_no_inference():
    class QueueOnly:
        def __init__(self):
            self.items = []

        def put(self, data):
            self.items.extend(data)

    component = QueueOnly()
    server = ReIDServer(component, "reid", "127.0.0.1", 0).start_background()
    try:
        assert client(ReID_Endpoint, "reid", server).transmit([DetTrackResult(frame_index=9)]) is None
        assert [r.frame_index for r in component.items] == [9]
    finally:
        server.stop()


def test_refusals(fe):
    component, server = fe
    url = f"{server.url}/feature_extraction"
    msgpack_headers = {"Content-Type": codec.MSGPACK_CONTENT_TYPE}
    # pickle is never unpickled
    answer = httpx.post(url, content=pickle.dumps([DetTrackResult()]), headers=msgpack_headers)
    assert answer.status_code == 400 and "pickle" in answer.json()["detail"]
    answer = httpx.post(url, content=pickle.dumps([1]), headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 415
    # garbage
    answer = httpx.post(url, content=b"\xc1\xc1\xc1", headers=msgpack_headers)
    assert answer.status_code == 400 and "msgpack" in answer.json()["detail"]
    answer = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    # oversize (declared and streamed)
    big = codec.encode(np.zeros(128 * 1024, np.uint8))
    answer = httpx.post(url, content=big, headers=msgpack_headers)
    assert answer.status_code == 413

    def chunks():
        for _ in range(20):
            yield b"\x00" * 8192

    answer = httpx.post(url, content=chunks(), headers=msgpack_headers)
    assert answer.status_code == 413
    # component errors
    answer = httpx.post(url, content=codec.encode(["bad"]), headers=msgpack_headers)
    assert answer.status_code == 400 and "bad input" in answer.json()["detail"]
    answer = httpx.post(url, content=codec.encode(["boom"]), headers=msgpack_headers)
    assert answer.status_code == 500 and "component exploded" in answer.json()["detail"]
    assert component.put_calls == []


def test_client_returns_none_when_the_server_refuses(fe):
    _, server = fe
    api = client(FE, "feature_extraction", server)
    assert api.transmit(["boom"]) is None
    assert api.get_target_features(["boom"]) is None
    unreachable = FE("feature_extraction", ip="127.0.0.1", port=1, retries=1, retry_interval=0, timeout=2)
    assert unreachable.transmit([1]) is None


def test_client_refuses_values_it_cannot_encode(fe):
    _, server = fe
    with pytest.raises(codec.CodecError):
        client(FE, "feature_extraction", server).transmit([object()])


def test_bearer_token():
    component = RecordingComponent()
    server = DetectionServer(component, "video_analytics", "127.0.0.1", 0, token="s3cret").start_background()
    try:
        url = f"{server.url}/video_analytics"
        body = codec.encode([DetTrackResult()])
        headers = {"Content-Type": codec.MSGPACK_CONTENT_TYPE}
        assert httpx.post(url, content=body, headers=headers).status_code == 401
        wrong = {**headers, "Authorization": "Bearer nope"}
        assert httpx.post(url, content=body, headers=wrong).status_code == 401
        assert httpx.get(f"{server.url}/status").status_code == 401
        assert client(Detection, "video_analytics", server).transmit([DetTrackResult()]) is None
        assert client(Detection, "video_analytics", server, token="s3cret").transmit([DetTrackResult()]) == 200
        assert len(component.put_calls) == 1
    finally:
        server.stop()


def test_token_from_environment(monkeypatch):
    monkeypatch.setenv("SEDNA_INFERENCE_TOKEN", "from-env")
    component = RecordingComponent()
    server = DetectionServer(component, "video_analytics", "127.0.0.1", 0).start_background()
    try:
        assert server.token == "from-env"
        assert client(Detection, "video_analytics", server).transmit([DetTrackResult()]) == 200
    finally:
        server.stop()


def test_concurrent_transmits_into_a_synchronous_component(monkeypatch):
    """Eight clients at once into a real FEService-like component: every item is processed exactly once."""
    from sedna.core.multi_edge_inference.components import BaseService

    monkeypatch.setenv("batch_size", "3")

    class Counting(BaseService):
        def __init__(self):
            self.seen: list[int] = []
            super().__init__(models=["m"], timeout=0.2)

        def process_data(self, ai, data, **kwargs):
            self.seen.extend(d.frame_index for d in data)

        def update_operational_mode(self, status):
            return status

    component = Counting()
    server = FEServer(component, "feature_extraction", "127.0.0.1", 0).start_background()
    try:
        api = client(FE, "feature_extraction", server)
        errors: list = []

        def send(worker: int):
            for i in range(5):
                if api.transmit([DetTrackResult(frame_index=worker * 100 + i)]) != 200:
                    errors.append((worker, i))

        threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        component.flush()
        assert errors == []
        assert sorted(component.seen) == sorted(w * 100 + i for w in range(8) for i in range(5))
    finally:
        server.stop()
        component.close()


def test_undeliverable_results_are_counted(monkeypatch):
    from sedna.core.multi_edge_inference.components import BaseService
    from sedna.core.multi_edge_inference.plugins import PLUGIN
    from sedna.core.multi_edge_inference.plugins.registered import Feature_Extraction_I

    monkeypatch.setenv("MULTI_EDGE_RETRIES", "1")

    class Sender(BaseService):
        def _default_plugins(self):
            return [Feature_Extraction_I(ip="127.0.0.1", port=1)]

        def process_data(self, ai, data, **kwargs):
            return self._send(data, PLUGIN.FEATURE_EXTRACTION_I)

        def update_operational_mode(self, status):
            return status

    sender = Sender(models=["m"])
    try:
        sender.put([DetTrackResult()])
        assert sender.send_failures == 1
    finally:
        sender.close()


def test_refusals_are_not_retried_but_outages_are(fe):
    import time as _time

    _, server = fe
    api = FE("feature_extraction", ip="127.0.0.1", port=server.port, retries=5, retry_interval=1.0)
    started = _time.monotonic()
    assert api.transmit(["bad"]) is None  # 400: final
    assert _time.monotonic() - started < 0.9
    down = FE("feature_extraction", ip="127.0.0.1", port=1, retries=3, retry_interval=0.2, timeout=2)
    started = _time.monotonic()
    assert down.transmit([1]) is None  # connection refused: retried 3 times
    assert _time.monotonic() - started >= 0.4
