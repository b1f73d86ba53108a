"""Aggregation worker of the V2 example (upstream's surface_defect_detection_v2/aggregate.py, no Plato)."""

from interface import Dataset, Estimator, fedavg, simple_chooser, transmitter

from sedna.service.server import AggregationServerV2


def run_server():
    data = Dataset()
    estimator = Estimator()
    server = AggregationServerV2(
        data=data,
        estimator=estimator,
        aggregation=fedavg,
        transmitter=transmitter,
        chooser=simple_chooser,
    )
    server.start()


if __name__ == "__main__":
    run_server()
