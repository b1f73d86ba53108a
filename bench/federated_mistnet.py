"""MistNet benchmark (``python bench/federated.py --v2 mistnet``): bytes each client sends per round — noisy
cut-layer features — against the FedAvg update of the same model (its weights), and seconds per round.

For every (image size, cut layer) case it runs a real ``AggregationServerV2(aggregation=MistNet(...))`` and
``--clients`` ``FederatedLearningV2`` clients (threads, websockets on 127.0.0.1) for ``--rounds`` rounds with
the example's TinyYolo (examples/federated_learning/mistnet_yolo) on generated images, and prints one JSON line:

    {"case", "clients", "samples_per_client", "image_size", "cut_layer", "features_bytes_per_client_round",
     "fedavg_weights_bytes", "bytes_ratio", "seconds_per_round", "compute_floor_s", "floor_ratio"}

``fedavg_weights_bytes`` is the ``update_weight`` frame FedAvg would send for this model (all of its
``state_dict``, float32, same wire); ``compute_floor_s`` is the same round's arithmetic alone, measured in the
same run: every client's forward pass to the cut plus the server's training of the upper layers on the same
features, without sockets, encoding or noise. MistNet's features grow with samples × image area, weights with
the model: which side is smaller depends on the case, which is what the lines show.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "federated_learning" / "mistnet_yolo"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(EXAMPLE))


class _Images:
    """Generated images with YOLO labels (the example's generator), resized as the workers resize."""

    def __init__(self, seed: int, samples: int, size: int) -> None:
        from prepare import make_image

        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(samples):
            img, lines = make_image(rng, 128, 96)
            pixels = np.asarray(img.resize((size, size)), np.float32).transpose(2, 0, 1) / 255.0
            labels = np.array([[float(v) for v in line.split()] for line in lines], np.float32)
            self.items.append((pixels, labels))

    def __len__(self) -> int:
        return len(self.items)

    @staticmethod
    def collate_fn(batch):
        from sedna.datasources.yolo import YoloDirDataset

        return YoloDirDataset.collate_fn(batch)

    def __getitem__(self, i):
        import torch

        return torch.from_numpy(self.items[i][0]), self.items[i][1]


def _estimator(rounds: int, batch_size: int):
    from yolo import TinyYolo, yolo_loss

    class Estimator:
        def __init__(self) -> None:
            import torch

            torch.manual_seed(0)
            self.model = TinyYolo()
            self.loss = yolo_loss
            self.pretrained = None
            self.saved = None
            self.hyperparameters = {"rounds": rounds, "epochs": 1, "batch_size": batch_size, "learning_rate": 0.01}

    return Estimator()


def _fedavg_bytes(model) -> int:
    from sedna.algorithms.aggregation.mistnet import state_arrays
    from sedna.algorithms.transmitter.wire import encode_weights
    from sedna.common.tensors import list_to_arrays

    arrays = list_to_arrays(list(state_arrays(model).values()))
    return len(encode_weights("update_weight", arrays, {"round": 1, "num_samples": 1, "client": "c"}))


def _floor(datasets, cut_layer: int, batch_size: int) -> float:
    """The round's compute alone: forward to the cut on every client's data, one epoch of the upper layers."""
    import torch
    from yolo import yolo_loss

    from sedna.algorithms.aggregation import MistNet
    from sedna.algorithms.aggregation.mistnet import forward_to, server_settings
    from sedna.core.federated_learning.mistnet import local_batches
    from sedna.service.server.mistnet import train_upper_layers

    est = _estimator(1, batch_size)
    model = est.model.eval()
    start = time.perf_counter()
    batches = []
    with torch.no_grad():
        for data in datasets:
            for x, t in local_batches(data, batch_size):
                batches.append((forward_to(model, x, cut_layer).numpy(), np.asarray(t)))
    train_upper_layers(model, batches, server_settings(est, MistNet(cut_layer, 100), env={}), yolo_loss)
    return time.perf_counter() - start


def run_case(clients: int, samples: int, size: int, cut_layer: int, rounds: int, batch_size: int) -> dict:
    from sedna.algorithms.aggregation import MistNet
    from sedna.algorithms.client_choose import SimpleClientChoose
    from sedna.algorithms.transmitter import WSTransmitter
    from sedna.common.config import BaseConfig
    from sedna.core.federated_learning import FederatedLearningV2
    from sedna.service.server import AggregationServerV2

    # no LC here: round reports go to the discard port (refused at once), never to a real LC on 9100
    BaseConfig.lc_server = "http://127.0.0.1:9"
    os.environ.update({"AGG_BIND_IP": "127.0.0.1", "AGG_BIND_PORT": "0", "AGG_EXIT_GRACE": "0.2"})
    server = AggregationServerV2(estimator=_estimator(rounds, batch_size), aggregation=MistNet(cut_layer, 100),
                                 transmitter=WSTransmitter(), chooser=SimpleClientChoose(clients))
    thread = server.start_background()
    os.environ.update({"AGG_IP": "127.0.0.1", "AGG_PORT": str(server.port)})

    class Data:
        def __init__(self, seed):
            self.trainset = _Images(seed, samples, size)

    datasets = [Data(seed) for seed in range(clients)]
    workers = [FederatedLearningV2(data=d, estimator=_estimator(rounds, batch_size),
                                   aggregation=MistNet(cut_layer, 100), transmitter=WSTransmitter())
               for d in datasets]
    errors: list[BaseException] = []

    def train(fl):
        try:
            fl.train()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=train, args=(fl,)) for fl in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    thread.join(10)
    if errors:
        raise errors[0]
    per_client = [int(np.mean(fl.bytes_sent)) for fl in workers]
    fedavg = _fedavg_bytes(workers[0].model)
    seconds = elapsed / rounds
    floor = _floor(datasets, cut_layer, batch_size)
    return {"case": f"mistnet-img{size}-cut{cut_layer}", "clients": clients, "samples_per_client": samples,
            "image_size": size, "cut_layer": cut_layer, "rounds": rounds,
            "features_bytes_per_client_round": int(np.mean(per_client)), "fedavg_weights_bytes": fedavg,
            "bytes_ratio": round(float(np.mean(per_client)) / fedavg, 3), "seconds_per_round": round(seconds, 3),
            "compute_floor_s": round(floor, 3), "floor_ratio": round(seconds / floor, 2),
            "server_losses": [round(x, 4) for x in server.losses]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="MistNet benchmark (one JSON line per case)")
    parser.add_argument("--v2", default="mistnet", choices=["mistnet"])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--samples", type=int, default=64, help="images per client")
    parser.add_argument("--image-sizes", default="64,128")
    parser.add_argument("--cut-layers", default="4", help="comma list (TinyYolo has 7 layers)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    # warm-up (torch's first passes, thread pools), not measured
    _floor([type("Data", (), {"trainset": _Images(99, 8, 64)})()], 4, 8)
    for size in [int(s) for s in args.image_sizes.split(",")]:
        for cut in [int(c) for c in args.cut_layers.split(",")]:
            with contextlib.redirect_stdout(sys.stderr):   # the server's per-round loss lines
                result = run_case(args.clients, args.samples, size, cut, args.rounds, args.batch_size)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
