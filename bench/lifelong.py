"""Lifelong-learning benchmark on the generated thermal-comfort data: one JSON line per case.

Cases:

- ``train``: ``LifelongLearning.train`` (task definition, 4 task models, publishing to a knowledge-base server
  process) — samples/s over the training rows; also ``train-no-kb`` (index pointing at local files);
- ``evaluate``: ``LifelongLearning.evaluate`` of that KB (task models fetched from the KB) — samples/s;
- ``inference-batch``: newer API, one call per batch of ``--batch`` rows, unseen samples recognised by task
  attributes — samples/s;
- ``inference-single``: older API (upstream's example loop), one row per call with ``TaskAttrFilter`` —
  samples/s and per-call latency p50/p99;
- ``kb-query`` / ``kb-download`` / ``kb-upload``: knowledge-base request latency p50/p99 (ms) over
  ``--requests`` requests each (query of the task index, download of the index, upload of a 64 KiB file).

The LC is not part of the figures: reports go to a closed port with a single try.

    python bench/lifelong.py [--rows 20000] [--batch 500] [--single 1000] [--requests 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lifelong_learning" / "thermal_comfort"
sys.path.insert(0, str(EXAMPLE))
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ms_percentiles(samples: list[float]) -> dict:
    arr = np.asarray(samples) * 1000.0
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p99_ms": round(float(np.percentile(arr, 99)), 3)}


def emit(case: str, **figures) -> None:
    print(json.dumps({"bench": "lifelong", "case": case, **figures}), flush=True)


def set_env(**values) -> None:
    from sedna.common.config import BaseConfig

    for key in ("KB_SERVER", "MODEL_URLS", "OUTPUT_URL", "edge_output_url"):
        os.environ.pop(key, None)
    os.environ.update({k: str(v) for k, v in values.items()})
    BaseConfig.reload_from_env()


def start_kb(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sedna.service.server.knowledge_base", "--host", "127.0.0.1",
                             "--port", str(port), "--dir", str(work / "kb")],
                            env=dict(os.environ, PYTHONPATH=str(REPO), LOG_LEVEL="WARNING"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("knowledge base did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20000, help="training rows (test: rows/3)")
    parser.add_argument("--batch", type=int, default=500, help="rows per batched inference call")
    parser.add_argument("--single", type=int, default=1000, help="single-row inference calls")
    parser.add_argument("--requests", type=int, default=1000, help="requests per KB latency case")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the batched inference case")
    args = parser.parse_args()

    import pandas as pd
    from interface import DATACONF, Estimator, feature_process
    from prepare import generate

    from sedna.core.lifelong_learning import LifelongLearning
    from sedna.datasources import CSVDataParse
    from sedna.service.client import http
    from sedna.service.client.knowledge_base import KBClient

    http.DEFAULT_RETRIES = 1  # reports to the (absent) LC fail fast
    os.environ.update(BACKEND_TYPE="SKLEARN", JOB_NAME="bench", LC_SERVER=f"http://127.0.0.1:{free_port()}",
                      WORKER_NAME="bench-worker", LOG_LEVEL="WARNING")
    import logging

    logging.disable(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="sedna-bench-ll-"))
    paths = generate(str(work / "data"), rows=args.rows, seed=1)
    attribute = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})
    definition = {"method": "TaskDefinitionByDataAttr", "param": attribute}

    def load(path, data_type):
        ds = CSVDataParse(data_type=data_type, func=feature_process)
        ds.parse(path, label=DATACONF["LABEL"])
        return ds

    train, test = load(paths["trainData.csv"], "train"), load(paths["testData.csv"], "eval")
    proc, kb_url = start_kb(work)
    try:
        set_env(KB_SERVER=kb_url, OUTPUT_URL=work / "out" / "train")
        start = time.perf_counter()
        LifelongLearning(estimator=Estimator, task_definition=definition).train(train_data=train)
        elapsed = time.perf_counter() - start
        emit("train", rows=len(train.x), seconds=round(elapsed, 3), samples_per_s=round(len(train.x) / elapsed, 1))

        set_env(OUTPUT_URL=work / "out" / "train-local")
        start = time.perf_counter()
        LifelongLearning(estimator=Estimator, task_definition=definition).train(train_data=train)
        elapsed = time.perf_counter() - start
        emit("train-no-kb", rows=len(train.x), seconds=round(elapsed, 3),
             samples_per_s=round(len(train.x) / elapsed, 1))

        index = work / "out" / "train" / "index.pkl"
        set_env(KB_SERVER=kb_url, OUTPUT_URL=work / "out" / "eval", MODEL_URLS=index)
        start = time.perf_counter()
        res = LifelongLearning(estimator=Estimator, task_definition=definition).evaluate(test)
        elapsed = time.perf_counter() - start
        emit("evaluate", rows=len(test.x), seconds=round(elapsed, 3), samples_per_s=round(len(test.x) / elapsed, 1),
             precision=round(res["precision_score"], 4))

        set_env(KB_SERVER=kb_url, MODEL_URLS=index, edge_output_url=work / "edge")
        infer_frame = pd.read_csv(paths["inferData.csv"])
        job = LifelongLearning(seen_estimator=Estimator, task_definition=definition,
                               unseen_sample_recognition={"method": "SampleRecognitionByTaskAttr",
                                                          "param": attribute})
        frame = pd.concat([infer_frame] * max(1, args.batch // max(len(infer_frame), 1) + 1), ignore_index=True)
        batch = CSVDataParse(data_type="test", func=None)
        batch.x = feature_process(frame.drop(columns=[DATACONF["LABEL"]]).iloc[:args.batch].copy())
        job.inference(batch)  # deploys the KB to the edge once
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            job.inference(batch)
            calls += 1
        elapsed = time.perf_counter() - start
        emit("inference-batch", batch=len(batch.x), calls=calls,
             samples_per_s=round(calls * len(batch.x) / elapsed, 1))

        service = LifelongLearning(estimator=Estimator, task_mining={"method": "TaskMiningByDataAttr",
                                                                     "param": attribute},
                                   unseen_task_detect={"method": "TaskAttrFilter"})
        header = list(infer_frame.columns)
        records = [dict(zip(header, map(str, row))) for row in infer_frame.itertuples(index=False, name=None)]
        latencies, unseen = [], 0
        start = time.perf_counter()
        for i in range(args.single):
            one = CSVDataParse(data_type="test", func=feature_process)
            t0 = time.perf_counter()
            one.parse(records[i % len(records)], label=DATACONF["LABEL"])
            _, is_unseen, _ = service.inference(one)
            latencies.append(time.perf_counter() - t0)
            unseen += int(is_unseen)
        elapsed = time.perf_counter() - start
        emit("inference-single", calls=args.single, samples_per_s=round(args.single / elapsed, 1),
             unseen=unseen, **ms_percentiles(latencies))

        client = KBClient(kb_url, retries=1)
        for case, call in (("kb-query", client.query),
                           ("kb-download", lambda: client.download(f"{client.kbserver}/file/download?"
                                                                   "files=index.pkl&name=index.pkl",
                                                                   str(work / "index-copy"))),
                           ("kb-upload", None)):
            if call is None:
                blob = work / "blob.bin"
                blob.write_bytes(os.urandom(64 * 1024))

                def call(blob=blob):
                    return client.upload_file(str(blob), name="bench-blob.bin")
            call()
            samples = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                answer = call()
                samples.append(time.perf_counter() - t0)
                if answer is None:
                    raise RuntimeError(f"{case}: the knowledge base gave no answer")
            emit(case, requests=args.requests, **ms_percentiles(samples))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
