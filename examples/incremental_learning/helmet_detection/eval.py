"""Eval worker of the helmet-detection IncrementalLearningJob: scores the new and the old model.

Env (injected by the GM): ``TEST_DATASET_URL``, ``ORIGINAL_DATASET_URL``, ``MODEL_URLS`` (``new;old``),
``JOB_NAME``, ``NAMESPACE``, ``WORKER_NAME``, ``LC_SERVER``. Reports ``{"precision": [...], "recall": [...]}``
per model; the deploy trigger compares ``precision_delta``.
"""

from __future__ import annotations

import os

from interface import Estimator

from sedna.common.config import BaseConfig, Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def _load_txt_dataset(dataset_url):
    original_dataset_url = Context.get_parameters("original_dataset_url")
    return os.path.join(os.path.dirname(original_dataset_url), dataset_url)


def main():
    test_dataset_url = BaseConfig.test_dataset_url
    valid_data = TxtDataParse(data_type="test", func=_load_txt_dataset)
    valid_data.parse(test_dataset_url, use_raw=True)
    incremental_instance = IncrementalLearning(estimator=Estimator)
    return incremental_instance.evaluate(valid_data)


if __name__ == "__main__":
    main()
