"""Training worker of the MistNet YOLO example (upstream's train.py; ``-i N`` is the seed's client index)."""

import argparse
import logging

from interface import Dataset, Estimator, mistnet, s3_transmitter

from sedna.core.federated_learning import FederatedLearningV2

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-i", "--id", default="1", help="client index (Plato's -i in upstream)")
    args, _ = parser.parse_known_args()
    logging.getLogger(__name__).info("MistNet client %s starting", args.id)
    data = Dataset()
    estimator = Estimator()

    fl_model = FederatedLearningV2(
        data=data,
        estimator=estimator,
        aggregation=mistnet,
        transmitter=s3_transmitter)

    fl_model.train()


if __name__ == "__main__":
    main()
