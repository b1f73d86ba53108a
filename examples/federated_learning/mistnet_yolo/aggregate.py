"""Aggregation worker of the MistNet YOLO example (upstream's aggregate.py, unchanged in shape)."""

import logging

from interface import Dataset, Estimator, mistnet, s3_transmitter, simple_chooser

from sedna.service.server import AggregationServerV2

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_server():
    data = Dataset()
    estimator = Estimator()

    server = AggregationServerV2(
        data=data,
        estimator=estimator,
        aggregation=mistnet,
        transmitter=s3_transmitter,
        chooser=simple_chooser)

    server.start()


if __name__ == "__main__":
    run_server()
