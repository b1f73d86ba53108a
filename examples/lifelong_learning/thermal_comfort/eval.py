"""Eval worker of the thermal-comfort LifelongLearningJob (upstream's atcii eval.py, unchanged API)."""

import json

from interface import DATACONF, Estimator, feature_process
from sklearn.metrics import precision_score

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def main():
    test_dataset_url = Context.get_parameters("test_dataset_url")
    valid_data = CSVDataParse(data_type="valid", func=feature_process)
    valid_data.parse(test_dataset_url, label=DATACONF["LABEL"])
    attribute = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})
    task_definition = {"method": "TaskDefinitionByDataAttr", "param": attribute}
    ll_job = LifelongLearning(
        estimator=Estimator,
        task_definition=task_definition,
        task_relationship_discovery=None,
        task_mining=None,
        task_remodeling=None,
        inference_integrate=None,
        unseen_task_detect=None)
    return ll_job.evaluate(data=valid_data, metrics=precision_score, metrics_param={"average": "micro"})


if __name__ == "__main__":
    print(main())
