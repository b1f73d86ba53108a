"""Shared pieces of the V2 example (upstream's interface.py): algorithm holders, data and estimator.

The model and the generated data are the ones of ``../surface_defect_detection`` (a numpy MLP on 16×16
surface images); this file only puts them in the V2 shape: ``Dataset`` with ``trainset``/``testset`` and
``Estimator`` with ``model``, ``hyperparameters``, ``pretrained``, ``saved``.
"""

import importlib.util
import os

from sedna.algorithms.aggregation import FedAvgV2
from sedna.algorithms.client_choose import SimpleClientChoose
from sedna.common.config import Context
from sedna.core.federated_learning import FederatedLearningV2

_V1 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "surface_defect_detection", "interface.py")
_spec = importlib.util.spec_from_file_location("surface_defect_model", _V1)
_v1 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_v1)
MLP, load_index, generate_dataset = _v1.Estimator, _v1.load_index, _v1.generate_dataset

simple_chooser = SimpleClientChoose(per_round=int(Context.get_parameters("PARTICIPANTS_COUNT", 2)))
fedavg = FedAvgV2()
transmitter = FederatedLearningV2.get_transmitter_from_config()


class _Samples:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Dataset:
    """``trainset``/``testset`` as ``(x, y)`` read from index files (``TRAIN_DATASET_URL``, ``TEST_DATASET_URL``)."""

    def __init__(self, train_index=None, test_index=None) -> None:
        self.customized = True
        train_index = train_index or Context.get_parameters("TRAIN_DATASET_URL")
        test_index = test_index or Context.get_parameters("TEST_DATASET_URL")
        self.trainset = load_index(train_index) if train_index else None
        self.testset = load_index(test_index) if test_index else None


class Estimator:
    def __init__(self) -> None:
        self.model = MLP()
        self.pretrained = None
        self.saved = Context.get_parameters("MODEL_URL")
        self.hyperparameters = {
            "type": "basic",
            "rounds": int(Context.get_parameters("exit_round", 3)),
            "epochs": int(Context.get_parameters("epochs", 3)),
            "batch_size": int(Context.get_parameters("batch_size", 32)),
            "learning_rate": float(Context.get_parameters("learning_rate", 0.2)),
        }

    def train(self, trainset, epochs=1, batch_size=32, learning_rate=0.2, **kwargs):
        x, y = trainset
        return self.model.fit(_Samples(x, y), epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)

    def evaluate(self, x, y):
        return self.model.evaluate(_Samples(x, y))["accuracy"]
