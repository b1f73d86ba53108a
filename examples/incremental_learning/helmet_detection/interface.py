"""The estimator the incremental-learning workers hand to Sedna: train / evaluate / predict / save / load."""

from __future__ import annotations

import os

import numpy as np
from helmet import SoftmaxModel, detect, precision_recall, training_set

FEATURE_KIND = os.environ.get("feature_kind", "big")


def load_sample(path: str):
    """A dataset line names a frame ``.../frames/X.npy``; its cell labels are ``.../labels/X.npy``."""
    frame = np.load(path, allow_pickle=False)
    label_path = os.path.join(os.path.dirname(os.path.dirname(path)), "labels", os.path.basename(path))
    labels = np.load(label_path, allow_pickle=False) if os.path.exists(label_path) else None
    return frame, labels


class Estimator:
    def __init__(self, **kwargs):
        self.model: SoftmaxModel | None = None

    def train(self, train_data, valid_data=None, **kwargs):
        """Fit on the frames listed by ``train_data`` (a Sedna data source whose ``x`` are frame paths)."""
        from helmet import cell_features

        features, labels = [], []
        for path in train_data.x:
            frame, label = load_sample(str(path))
            if label is None:
                continue
            features.append(cell_features(frame, FEATURE_KIND))
            labels.append(label.ravel())
        if not features:
            raise ValueError("no labelled frames in the training data")
        self.model = SoftmaxModel.fit(FEATURE_KIND, np.concatenate(features), np.concatenate(labels))
        return {"train_frames": [float(len(features))]}

    def evaluate(self, data, model_path=None, **kwargs):
        """``{"precision": [p], "recall": [r], "precision_per_class": [helmet, head], ...}`` of the model at
        ``model_path`` on ``data``. ``precision``/``recall`` are one value each (macro averages over the
        cell classes background, helmet, head), the shape the job's ``precision_delta`` deploy trigger reads:
        upstream compares one-value metrics and turns longer lists into 0."""
        if model_path:
            self.load(model_path)
        frames, labels = [], []
        for path in data.x:
            frame, label = load_sample(str(path))
            if label is not None:
                frames.append(frame)
                labels.append(label)
        heads = precision_recall(self.model, frames, labels)
        return {"precision": [macro_average(self.model, frames, labels, "precision")],
                "recall": [macro_average(self.model, frames, labels, "recall")],
                "precision_per_class": heads["precision"], "recall_per_class": heads["recall"]}

    def predict(self, data, **kwargs):
        return detect(np.asarray(data, dtype=np.uint8), self.model)

    def load(self, model_url: str = ""):
        self.model = SoftmaxModel.load(model_url)

    def save(self, model_path: str):
        return self.model.save(model_path)


def macro_average(model: SoftmaxModel, frames, labels, which: str) -> float:
    """Precision or recall averaged over the three cell classes (background, helmet, head)."""
    from helmet import cell_features

    predicted = np.concatenate([model.predict_proba(cell_features(f, model.kind)).argmax(axis=1) for f in frames])
    truth = np.concatenate([np.asarray(label).ravel() for label in labels])
    scores = []
    for cls in (0, 1, 2):
        tp = int(((predicted == cls) & (truth == cls)).sum())
        base = predicted == cls if which == "precision" else truth == cls
        scores.append(tp / max(int(base.sum()), 1))
    return round(float(np.mean(scores)), 4)


def initial_model(rng, shape, frames=1):
    """A weak starting model (few frames, coarse features), the IncrementalLearningJob's initialModel."""
    features, labels = training_set(rng, "little", frames, shape)
    return SoftmaxModel.fit("little", features, labels)
