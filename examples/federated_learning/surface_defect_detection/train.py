"""Training worker of the surface-defect federated-learning example (upstream's train.py).

Environment (the GM sets these on each training pod): AGG_IP, AGG_PORT, WORKER_NAME, JOB_NAME,
TRAIN_DATASET_URL (an index file of ``<image path> <label>`` lines), MODEL_URL, MODEL_NAME, LC_SERVER;
user env from the CR template: epochs, batch_size, learning_rate, aggregation_algorithm.
"""

from interface import Estimator, image_process

from sedna.common.config import BaseConfig, Context
from sedna.core.federated_learning import FederatedLearning
from sedna.datasources import TxtDataParse


def main():
    train_data = TxtDataParse(data_type="train", func=image_process)
    train_data.parse(BaseConfig.train_dataset_url)

    epochs = int(Context.get_parameters("epochs", 3))
    batch_size = int(Context.get_parameters("batch_size", 32))
    learning_rate = float(Context.get_parameters("learning_rate", 0.2))
    aggregation_algorithm = Context.get_parameters("aggregation_algorithm", "FedAvg")

    fl_model = FederatedLearning(estimator=Estimator, aggregation=aggregation_algorithm)
    return fl_model.train(
        train_data=train_data,
        valid_data=None,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
    )


if __name__ == "__main__":
    main()
