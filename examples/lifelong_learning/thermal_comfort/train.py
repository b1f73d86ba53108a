"""Train worker of the thermal-comfort LifelongLearningJob (upstream's atcii train.py, unchanged API)."""

import json

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def main():
    train_dataset_url = Context.get_parameters("train_dataset_url")
    train_data = CSVDataParse(data_type="train", func=feature_process)
    train_data.parse(train_dataset_url, label=DATACONF["LABEL"])
    attribute = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})
    early_stopping_rounds = int(Context.get_parameters("early_stopping_rounds", 100))
    metric_name = Context.get_parameters("metric_name", "mlogloss")

    task_definition = {"method": "TaskDefinitionByDataAttr", "param": attribute}

    ll_job = LifelongLearning(
        estimator=Estimator,
        task_definition=task_definition,
        task_relationship_discovery=None,
        task_mining=None,
        task_remodeling=None,
        inference_integrate=None,
        unseen_task_detect=None)
    return ll_job.train(train_data=train_data, metric_name=metric_name,
                        early_stopping_rounds=early_stopping_rounds)


if __name__ == "__main__":
    print(main())
