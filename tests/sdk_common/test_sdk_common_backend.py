"""set_backend selection and BackendBase behaviour with scikit-learn/numpy estimators (sdk.md §10)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sedna.backend import BackendBase, BackendNotInstalledError, resolve_backend_type, set_backend
from sedna.common.file_ops import FileOpsError

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TF = importlib.util.find_spec("tensorflow") is not None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("BACKEND_TYPE", "DEVICE_CATEGORY", "CUDA_VISIBLE_DEVICES", "MODEL_NAME"):
        monkeypatch.delenv(var, raising=False)


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return x, y


class SklearnEstimator:
    """Upstream-style wrapper: a class taking keyword arguments, with save/load."""

    def __init__(self, C=1.0):
        self.C = C
        self.model = LogisticRegression(C=C)
        self.loaded_from = None

    def train(self, train_data, valid_data=None, **kwargs):
        x, y = train_data
        self.model.fit(x, y)
        return {"trained": len(x)}

    def predict(self, data, **kwargs):
        return self.model.predict(data)

    def evaluate(self, data, **kwargs):
        x, y = data
        return {"accuracy": float((self.model.predict(x) == y).mean())}

    def save(self, model_path):
        np.save(model_path, np.concatenate([self.model.coef_.ravel(), self.model.intercept_]),
                allow_pickle=False)
        os.replace(model_path + ".npy", model_path)

    def load(self, model_url=""):
        params = np.load(model_url, allow_pickle=False)
        self.model.coef_ = params[:-1].reshape(1, -1)
        self.model.intercept_ = params[-1:]
        self.model.classes_ = np.array([0, 1])
        self.loaded_from = model_url


class WeightsEstimator:
    """Numpy estimator exposing weights but no save/load (federated-learning style)."""

    def __init__(self):
        self.w = [np.zeros((3, 2)), np.zeros(2)]

    def fit(self, x, y, epochs=1):
        self.w = [w + epochs for w in self.w]

    def predict(self, data):
        return np.asarray(data) @ self.w[0] + self.w[1]

    def get_weights(self):
        return self.w

    def set_weights(self, weights):
        self.w = [np.asarray(w) for w in weights]


class CallableInstance:
    def __call__(self):
        raise AssertionError("an estimator instance must not be called")

    def fit(self, x):
        return "fitted"


def test_no_estimator_gives_none():
    assert set_backend(None) is None


def test_default_is_generic_without_tensorflow():
    if HAS_TF:
        pytest.skip("tensorflow installed: upstream default TENSORFLOW applies")
    assert resolve_backend_type({"backend_type": "TENSORFLOW"}) == "SKLEARN"
    assert type(set_backend(SklearnEstimator)) is BackendBase


def test_env_backend_type_wins_and_unknown_warns(monkeypatch, caplog):
    monkeypatch.setenv("BACKEND_TYPE", "sklearn")
    assert resolve_backend_type({"backend_type": "TORCH"}) == "SKLEARN"
    monkeypatch.setenv("BACKEND_TYPE", "weird")
    with caplog.at_level("WARNING", logger="sedna.backend"):
        backend = set_backend(SklearnEstimator)
    assert type(backend) is BackendBase and "WEIRD" in caplog.text


def test_config_backend_type_used_without_env():
    assert resolve_backend_type({"backend_type": "keras"}) == "KERAS"


@pytest.mark.skipif(HAS_TORCH, reason="torch installed")
def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setenv("BACKEND_TYPE", "TORCH")
    with pytest.raises(BackendNotInstalledError, match=r"sedna\[torch\]"):
        set_backend(SklearnEstimator)


@pytest.mark.skipif(HAS_TF, reason="tensorflow installed")
@pytest.mark.parametrize("kind", ["TENSORFLOW", "KERAS"])
def test_explicit_tensorflow_without_it_names_the_extra(monkeypatch, kind):
    monkeypatch.setenv("BACKEND_TYPE", kind)
    with pytest.raises(BackendNotInstalledError, match=r"sedna\[tf\]") as info:
        set_backend(SklearnEstimator)
    assert isinstance(info.value, ImportError)


def test_device_and_cuda_export(monkeypatch):
    monkeypatch.setenv("DEVICE_CATEGORY", "npu")
    backend = set_backend(SklearnEstimator, {"backend_type": "SKLEARN"})
    assert backend.device_category == "NPU" and backend.use_cuda is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    backend = set_backend(SklearnEstimator, {"backend_type": "SKLEARN"})
    assert backend.use_cuda is True and os.environ["DEVICE_CATEGORY"] == "GPU"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert set_backend(SklearnEstimator, {"backend_type": "SKLEARN"}).use_cuda is False


def test_paths_from_config():
    backend = set_backend(SklearnEstimator, {"backend_type": "SKLEARN", "model_url": "/m/out",
                                             "model_name": "m.npy"})
    assert backend.model_save_path == "/m/out" and backend.model_name == "m.npy"
    backend = set_backend(SklearnEstimator, {"backend_type": "SKLEARN", "model_url": "/m/out",
                                             "base_model_url": "/m/base"})
    assert backend.model_save_path == "/m/base" and backend.model_save_url == "/m/out"
    assert BackendBase(SklearnEstimator).model_save_path == "/tmp"


def test_model_name_defaults():
    assert BackendBase(SklearnEstimator).model_name == "model_finetune_.pkl"
    assert BackendBase(SklearnEstimator, fine_tune=False).model_name == "model.pkl"
    assert BackendBase(SklearnEstimator, model_name="x.pb").model_name == "x.pb"


def test_parse_kwargs():
    def named(a, b=1):
        return a

    def varkw(a, **kw):
        return a

    assert BackendBase.parse_kwargs(named, a=1, c=3) == {"a": 1}
    assert BackendBase.parse_kwargs(varkw, a=1, c=3) == {"a": 1, "c": 3}


def test_train_predict_evaluate_save_load_roundtrip(tmp_path):
    x, y = _data()
    backend = set_backend(SklearnEstimator, {"backend_type": "SKLEARN", "model_url": str(tmp_path / "out")})
    assert backend.train(train_data=(x, y), C=0.5, unknown=1) == {"trained": 60}
    assert isinstance(backend.estimator, SklearnEstimator) and backend.estimator.C == 0.5
    assert backend.evaluate((x, y))["accuracy"] > 0.8
    path = backend.save(model_name="lr.bin")
    assert path == str(tmp_path / "out" / "lr.bin") and os.path.isfile(path)
    fresh = set_backend(SklearnEstimator, {"backend_type": "SKLEARN"})
    fresh.load(model_url=path)
    assert fresh.estimator.loaded_from == path and fresh.has_load
    np.testing.assert_array_equal(fresh.predict(x), backend.predict(x))


def test_save_path_naming_a_file_is_split(tmp_path):
    x, y = _data()
    target = tmp_path / "models" / "final.bin"
    backend = BackendBase(SklearnEstimator, model_save_path=str(target))
    backend.train(train_data=(x, y))
    assert backend.save() == str(target) and target.is_file()


def test_save_uploads_to_model_url_and_load_downloads(tmp_path):
    x, y = _data()
    backend = BackendBase(SklearnEstimator, model_save_path=str(tmp_path / "local"))
    backend.train(train_data=(x, y))
    remote = tmp_path / "store" / "m.bin"
    assert backend.save(model_url=str(remote)) == str(remote) and remote.is_file()
    loader = BackendBase(SklearnEstimator, model_save_path=str(tmp_path / "cache"))
    loader.load(model_url=str(remote))
    assert loader.estimator.loaded_from == str(remote)


def test_weights_estimator_saves_safetensors_not_pickle(tmp_path):
    backend = BackendBase(WeightsEstimator, model_save_path=str(tmp_path))
    backend.train(np.ones((2, 3)), np.ones(2), epochs=2)
    assert [w.tolist() for w in backend.get_weights()][1] == [2.0, 2.0]
    path = backend.save(model_name="w.safetensors")
    assert open(path, "rb").read(9)[8:9] == b"{"
    other = BackendBase(WeightsEstimator, model_save_path=str(tmp_path))
    other.load(model_name="w.safetensors")
    np.testing.assert_array_equal(other.get_weights()[0], np.full((3, 2), 2.0))
    other.set_weights([np.ones((3, 2)), np.zeros(2)])
    np.testing.assert_array_equal(other.predict(np.ones((1, 3))), [[3.0, 3.0]])


def test_plain_sklearn_estimator_local_joblib_only(tmp_path):
    x, y = _data()
    backend = BackendBase(LogisticRegression, model_save_path=str(tmp_path))
    backend.train(x, y, C=2.0)
    assert backend.estimator.C == 2.0
    path = backend.save()
    loader = BackendBase(LogisticRegression, model_save_path=str(tmp_path))
    loader.load(model_url=path)
    np.testing.assert_array_equal(loader.predict(x), backend.predict(x))
    with pytest.raises(FileOpsError, match="pickle"):
        backend.save(model_url="s3://bucket/model.pkl")


def test_remote_non_weights_model_is_not_unpickled(tmp_path, monkeypatch):
    backend = BackendBase(LogisticRegression, model_save_path=str(tmp_path))
    fake = tmp_path / "dl.pkl"
    fake.write_bytes(b"not really")
    monkeypatch.setattr("sedna.common.file_ops.FileOps.download", lambda src, dst=None, **kw: str(fake))
    with pytest.raises(FileOpsError, match="unpickle"):
        backend.load(model_url="s3://bucket/model.pkl")


def test_callable_instance_is_not_called():
    backend = BackendBase(CallableInstance())
    assert backend.train(np.ones(2)) == "fitted"


def test_missing_method_is_clear_error():
    backend = BackendBase(CallableInstance())
    with pytest.raises(TypeError, match="predict"):
        backend.predict([1])
    with pytest.raises(TypeError, match="get_weights"):
        backend.get_weights()


def test_model_info():
    info = BackendBase(SklearnEstimator).model_info("/data/out/model.pb", relpath="/data", result={"acc": 1})
    assert info == [{"format": "pb", "url": "/out/model.pb", "metrics": {"acc": 1}}]


@pytest.mark.torch
@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_backend_weights_roundtrip(monkeypatch):
    import torch

    monkeypatch.setenv("BACKEND_TYPE", "TORCH")

    class Net:
        def __init__(self):
            self.model = torch.nn.Linear(3, 2)

        def train(self, train_data, **kwargs):
            return "trained"

        def predict(self, data, **kwargs):
            return self.model(torch.as_tensor(data, dtype=torch.float32)).detach().numpy()

    backend = set_backend(Net)
    assert backend.framework == "pytorch" and backend.device == "cpu"
    assert backend.train(train_data=None) == "trained"
    weights = backend.get_weights()
    assert [w.shape for w in weights] == [(2, 3), (2,)]
    backend.set_weights([np.ones((2, 3)), np.zeros(2)])
    np.testing.assert_allclose(backend.predict(np.ones((1, 3))), [[3.0, 3.0]])


def test_load_directory_model_in_place(tmp_path):
    class DirModel:
        def load(self, model_url=""):
            self.where = model_url
            return sorted(os.listdir(model_url))

    model_dir = tmp_path / "saved_model"
    model_dir.mkdir()
    (model_dir / "saved_model.pb").write_bytes(b"pb")
    backend = BackendBase(DirModel, model_save_path=str(tmp_path / "elsewhere"))
    assert backend.load(str(model_dir)) == ["saved_model.pb"]
    assert backend.estimator.where == str(model_dir) and not (tmp_path / "elsewhere").exists()


def test_load_missing_model_url_is_typed_error(tmp_path):
    from sedna.common.file_ops import FileOpsNotFoundError

    backend = BackendBase(SklearnEstimator, model_save_path=str(tmp_path))
    with pytest.raises(FileOpsNotFoundError, match="nope.bin"):
        backend.load(model_url=str(tmp_path / "store" / "nope.bin"))
    assert backend.load() is None  # nothing saved yet at the save path: nothing to load
