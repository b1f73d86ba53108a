"""Training worker of the V2 example (upstream's surface_defect_detection_v2/train.py, no Plato)."""

from interface import Dataset, Estimator, fedavg, transmitter

from sedna.core.federated_learning import FederatedLearningV2


def main():
    data = Dataset()
    estimator = Estimator()
    fl_model = FederatedLearningV2(
        data=data,
        estimator=estimator,
        aggregation=fedavg,
        transmitter=transmitter,
    )
    fl_model.train()
    for result in fl_model.test_results:
        print(f"round {result['round']}: test accuracy {result['score']:.3f}", flush=True)


if __name__ == "__main__":
    main()
