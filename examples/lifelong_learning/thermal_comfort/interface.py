"""The estimator and data settings shared by train.py, eval.py and inference.py (upstream's atcii layout).

The model is a multinomial logistic regression over the numeric comfort features. Its file is safetensors
(coefficients, intercepts, classes and the feature scaling), so it can travel through the knowledge base
without pickle.
"""

import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score

os.environ.setdefault("BACKEND_TYPE", "SKLEARN")

DATACONF = {
    "ATTRIBUTES": ["Season", "Cooling startegy_building level"],
    "LABEL": "Thermal preference",
}


def feature_process(df):
    """Numbers as floats (blank → 0.0), labels as ints (blank → 1 "no change"); ``City`` is not a feature."""
    if "City" in df.columns:
        df = df.drop(["City"], axis=1)
    for feature in df.columns:
        if feature in DATACONF["ATTRIBUTES"]:
            continue
        if feature == DATACONF["LABEL"]:
            df[feature] = df[feature].apply(lambda v: int(float(v)) if str(v).strip() not in ("", "nan") else 1)
        else:
            df[feature] = df[feature].apply(lambda v: float(v) if str(v).strip() not in ("", "nan") else 0.0)
    return df


class Estimator:
    """Comfort classifier: 0 = want cooler, 1 = no change, 2 = want warmer."""

    def __init__(self, **kwargs):
        self.model = None
        self.mean = None
        self.scale = None

    def _matrix(self, x):
        arr = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x, dtype=np.float64)
        return (arr - self.mean) / self.scale

    def train(self, train_data, valid_data=None, **kwargs):
        x = np.asarray(train_data.x.to_numpy() if hasattr(train_data.x, "to_numpy") else train_data.x,
                       dtype=np.float64)
        y = np.asarray(list(train_data.y), dtype=np.int64)
        self.mean = x.mean(axis=0)
        self.scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
        self.model = LogisticRegression(max_iter=500, C=10.0)
        if len(np.unique(y)) < 2:  # a task with one class: a constant model
            self.model = _Constant(int(y[0]), x.shape[1])
        else:
            self.model.fit(self._matrix(x), y)
        train_precision = precision_score(y, self.model.predict(self._matrix(x)), average="micro")
        return {"train_precision": float(train_precision), "samples": len(y)}

    def predict(self, datas, **kwargs):
        return self.model.predict(self._matrix(datas))

    def predict_proba(self, datas, **kwargs):
        return self.model.predict_proba(self._matrix(datas))

    def evaluate(self, test_data, **kwargs):
        y_pred = self.predict(test_data.x)
        return precision_score(list(test_data.y), y_pred, average="micro")

    def save(self, model_path=None):
        from safetensors.numpy import save_file

        save_file({"coef": np.ascontiguousarray(self.model.coef_), "intercept": self.model.intercept_,
                   "classes": self.model.classes_.astype(np.int64), "mean": self.mean, "scale": self.scale},
                  model_path)
        return model_path

    def load(self, model_url):
        from safetensors.numpy import load_file

        arrays = load_file(model_url)
        model = LogisticRegression()
        model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        model.classes_ = arrays["classes"]
        model.n_features_in_ = arrays["coef"].shape[1]
        self.model, self.mean, self.scale = model, arrays["mean"], arrays["scale"]
        return self


class _Constant:
    """Stands in for LogisticRegression when a task has a single class; stored in the same arrays."""

    def __init__(self, label, n_features):
        self.classes_ = np.array([label, label + 1], dtype=np.int64)
        self.coef_ = np.zeros((1, n_features))
        self.intercept_ = np.array([-50.0])

    def predict(self, x):
        return np.full(len(x), self.classes_[0])

    def predict_proba(self, x):
        return np.tile([1.0, 0.0], (len(x), 1))
