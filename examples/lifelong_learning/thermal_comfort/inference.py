"""Inference worker of the thermal-comfort LifelongLearningJob (upstream's atcii inference.py).

Reads ``infer_dataset_url`` line by line (waiting for new lines, as upstream, unless ``exit_when_done=true``),
writes every prediction to ``<infer_dataset_url>_out.csv`` and unseen-task rows to
``<UTD_SAVED_URL or UT_SAVED_URL>/unseen_sample.csv`` (upstream's script reads the first name while its job
YAML sets the second; both work).
"""

import csv
import json
import os
import time

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def main():
    utd = Context.get_parameters("UTD_NAME", "TaskAttrFilter")
    attribute = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})
    utd_parameters = Context.get_parameters("UTD_PARAMETERS", {})
    ut_saved_url = Context.get_parameters("UTD_SAVED_URL") or Context.get_parameters("UT_SAVED_URL", "/tmp")
    exit_when_done = str(Context.get_parameters("exit_when_done", "false")).lower() == "true"

    task_mining = {"method": "TaskMiningByDataAttr", "param": attribute}
    unseen_task_detect = {"method": utd, "param": utd_parameters}

    ll_service = LifelongLearning(
        estimator=Estimator,
        task_mining=task_mining,
        task_definition=None,
        task_relationship_discovery=None,
        task_remodeling=None,
        inference_integrate=None,
        unseen_task_detect=unseen_task_detect)

    infer_dataset_url = Context.get_parameters("infer_dataset_url")
    os.makedirs(ut_saved_url, exist_ok=True)
    counts = {"total": 0, "unseen": 0}
    with open(infer_dataset_url, encoding="utf-8") as file_handle, \
            open(os.path.join(ut_saved_url, "unseen_sample.csv"), "w", encoding="utf-8") as unseen_sample, \
            open(f"{infer_dataset_url}_out.csv", "w", encoding="utf-8") as output_sample:
        header = next(iter(csv.reader([file_handle.readline().strip()])))
        infer_data = CSVDataParse(data_type="test", func=feature_process)
        unseen_sample.write("\t".join(header + ["pred"]) + "\n")
        output_sample.write("\t".join(header + ["pred"]) + "\n")
        while True:
            where = file_handle.tell()
            line = file_handle.readline()
            if not line:
                if exit_when_done:
                    break
                time.sleep(1)
                file_handle.seek(where)
                continue
            rows = next(iter(csv.reader([line.strip()])))
            data = dict(zip(header, rows))
            infer_data.parse(data, label=DATACONF["LABEL"])
            rsl, is_unseen, _target_task = ll_service.inference(infer_data)
            rows.append(next(iter(rsl)))
            output = "\t".join(map(str, rows)) + "\n"
            counts["total"] += 1
            if is_unseen:
                counts["unseen"] += 1
                unseen_sample.write(output)
                unseen_sample.flush()
            output_sample.write(output)
            output_sample.flush()
    return counts


if __name__ == "__main__":
    print(main())
