"""Shared pieces of the MistNet YOLO example, in the shape of upstream's interface.py.

``mistnet`` / ``simple_chooser`` / ``s3_transmitter`` are upstream's module-level objects; ``Dataset`` gives
Plato-style ``parameters`` (a YOLO directory, read by ``sedna.datasources.yolo``); ``Estimator`` carries the
model — here the small ``TinyYolo`` of yolo.py, since no YOLOv5 weights are downloaded — and the
hyperparameters, read from the job's env (``epochs``, ``batch_size``, ``learning_rate``).
"""

import os

from yolo import TinyYolo, yolo_loss

from sedna.algorithms.aggregation import MistNet
from sedna.algorithms.client_choose import SimpleClientChoose
from sedna.common.config import Context
from sedna.core.federated_learning import FederatedLearningV2

simple_chooser = SimpleClientChoose(per_round=int(Context.get_parameters("PARTICIPANTS_COUNT", 1)))

# It has been determined that mistnet is required here.
mistnet = MistNet(cut_layer=Context.get_parameters("cut_layer"), epsilon=Context.get_parameters("epsilon"))

# The function `get_transmitter_from_config()` returns an object instance (ws or s3, from TRANSMITTER).
s3_transmitter = FederatedLearningV2.get_transmitter_from_config()

IMAGE_SIZE = int(Context.get_parameters("image_size", 64))


class Dataset:
    def __init__(self) -> None:
        data_path = Context.get_parameters("TRAIN_DATASET_URL", "./data/COCO")
        self.parameters = {
            "datasource": "YOLO",
            "data_path": data_path,
            "train_path": os.path.join(data_path, "coco128", "images", "train2017"),
            "test_path": os.path.join(data_path, "coco128", "images", "train2017"),
            "num_classes": 80,
            "image_size": IMAGE_SIZE,
        }


class Estimator:
    def __init__(self) -> None:
        self.model = TinyYolo()
        self.loss = yolo_loss
        self.pretrained = Context.get_parameters("PRETRAINED_MODEL_URL")
        self.saved = Context.get_parameters("MODEL_URL")
        self.hyperparameters = {
            "type": "yolov5",
            "rounds": int(Context.get_parameters("exit_round", 2)),
            "epochs": int(Context.get_parameters("epochs", 1)),
            "batch_size": int(Context.get_parameters("batch_size", 16)),
            "learning_rate": float(Context.get_parameters("learning_rate", 0.01)),
            "optimizer": "SGD",
            "model_name": "tiny-yolo",
        }
