"""Train worker of the helmet-detection IncrementalLearningJob.

Env (injected by the GM): ``TRAIN_DATASET_URL`` (the LC's ``data.txt`` of new samples),
``ORIGINAL_DATASET_URL`` (the Dataset's index file; sample lines are relative to its folder), ``MODEL_URL``
(output folder for the new model), ``BASE_MODEL_URL``, ``JOB_NAME``, ``NAMESPACE``, ``WORKER_NAME``,
``LC_SERVER``; optional ``MODEL_NAME`` (default ``model.npz`` here) and user env ``epochs``.
"""

from __future__ import annotations

import os

from interface import Estimator

from sedna.common.config import BaseConfig, Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def _load_txt_dataset(dataset_url):
    # sample lines are relative to the original dataset's folder
    original_dataset_url = Context.get_parameters("original_dataset_url")
    return os.path.join(os.path.dirname(original_dataset_url), dataset_url)


def main():
    # the file name of the new model inside MODEL_URL (the backend's default would be model_finetune_.pkl)
    BaseConfig.model_name = BaseConfig.model_name or "model.npz"
    train_dataset_url = BaseConfig.train_dataset_url
    train_data = TxtDataParse(data_type="train", func=_load_txt_dataset)
    train_data.parse(train_dataset_url, use_raw=True)
    epochs = int(Context.get_parameters("epochs", 1))
    incremental_instance = IncrementalLearning(estimator=Estimator)
    return incremental_instance.train(train_data=train_data, epochs=epochs)


if __name__ == "__main__":
    main()
