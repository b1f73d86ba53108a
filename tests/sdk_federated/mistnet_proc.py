"""A MistNet aggregator or client as its own process, through upstream's V2 API (for the integration test).

Usage: mistnet_proc.py server ROUNDS PER_ROUND SAVED   (AGG_BIND_IP/AGG_BIND_PORT from the env; prints the port)
       mistnet_proc.py client SEED                     (AGG_IP/AGG_PORT from the env)
cut_layer/epsilon/epochs/batch_size/learning_rate come from the env, as in the seed's job.
"""

import json
import sys

import numpy as np
import torch
from torch import nn

from sedna.algorithms.aggregation import MistNet
from sedna.algorithms.client_choose import SimpleClientChoose
from sedna.common.config import Context
from sedna.core.federated_learning import FederatedLearningV2
from sedna.service.server import AggregationServerV2

CLASSES = 4
CENTRES = np.random.default_rng(0).normal(0, 2, (CLASSES, 16)).astype(np.float32)


def make_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, CLASSES))


def make_data(seed: int, n: int = 96):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = CENTRES[y] + rng.normal(0, 1.0, (n, 16)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


class Estimator:
    def __init__(self, rounds=2, saved=None):
        self.model = make_model()
        self.pretrained = None
        self.saved = saved
        self.hyperparameters = {"rounds": rounds, "epochs": int(Context.get_parameters("epochs", 1)),
                                "batch_size": int(Context.get_parameters("batch_size", 32)),
                                "learning_rate": float(Context.get_parameters("learning_rate", 0.05))}


class Data:
    def __init__(self, seed):
        self.trainset = make_data(seed)


def mistnet():
    return MistNet(cut_layer=Context.get_parameters("cut_layer"), epsilon=Context.get_parameters("epsilon"))


def main() -> None:
    role = sys.argv[1]
    if role == "server":
        rounds, per_round, saved = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        server = AggregationServerV2(data=None, estimator=Estimator(rounds, saved), aggregation=mistnet(),
                                     chooser=SimpleClientChoose(per_round=per_round))
        thread = server.start_background()
        print(json.dumps({"event": "listening", "port": server.port, "type": type(server).__name__}), flush=True)
        thread.join()
        print(json.dumps({"event": "done", "round": server.round, "losses": server.losses,
                          "saved": server.saved_path,
                          "feature_shapes": [r["shapes"][0] for r in server.features_received]}), flush=True)
    else:
        fl = FederatedLearningV2(data=Data(int(sys.argv[2])), estimator=Estimator(), aggregation=mistnet(),
                                 transmitter=FederatedLearningV2.get_transmitter_from_config())
        fl.train()
        print(json.dumps({"event": "done", "type": type(fl).__name__, "round": fl.round, "losses": fl.losses,
                          "bytes_sent": fl.bytes_sent}), flush=True)


if __name__ == "__main__":
    main()
