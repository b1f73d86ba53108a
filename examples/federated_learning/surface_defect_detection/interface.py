"""Model and data of the surface-defect example: a small numpy MLP on generated 16×16 "surface" images.

Classes: 0 good surface, 1 scratch (bright line), 2 spot (dark blob), 3 crack (dark vertical streak).
Everything is seeded; nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sedna.common.tensors import arrays_to_list, dumps_arrays, list_to_arrays, loads_arrays

IMAGE_SIZE = 16
NUM_CLASSES = 4
CLASS_NAMES = ["good", "scratch", "spot", "crack"]


# ---------------------------------------------------------------------------------------------- data
def make_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 16×16 float32 image in [0, 1] with the defect of ``label`` at a random place."""
    n = IMAGE_SIZE
    base = 0.5 + 0.08 * rng.standard_normal((n, n))
    yy, xx = np.mgrid[0:n, 0:n]
    if label == 1:  # scratch: a bright, slightly slanted line
        row, slope = rng.integers(3, n - 3), rng.uniform(-0.3, 0.3)
        mask = np.abs(yy - (row + slope * (xx - n / 2))) < 0.8
        base[mask] += 0.35
    elif label == 2:  # spot: a dark round blob
        cy, cx, r = rng.integers(4, n - 4), rng.integers(4, n - 4), rng.uniform(1.5, 3.0)
        base -= 0.35 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2))
    elif label == 3:  # crack: a dark, jagged vertical streak
        col = rng.integers(3, n - 3) + np.cumsum(rng.integers(-1, 2, size=n))
        base[np.arange(n), np.clip(col, 0, n - 1)] -= 0.35
    return np.clip(base, 0.0, 1.0).astype(np.float32)


# label mix per client: each edge site sees mostly two defect types (non-IID)
CLIENT_CLASS_MIX = {
    1: [0.45, 0.45, 0.05, 0.05],
    2: [0.05, 0.05, 0.45, 0.45],
}


def generate_dataset(root: str, clients: int = 2, per_client: int = 300, test_size: int = 400,
                     seed: int = 7) -> dict[str, str]:
    """Write images as .npy files and index files ``<path> <label>`` per client plus a balanced test set.

    Returns ``{"client1": index path, "client2": ..., "test": ...}``.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, str] = {}
    parts = {f"client{c}": (per_client, CLIENT_CLASS_MIX[(c - 1) % 2 + 1]) for c in range(1, clients + 1)}
    parts["test"] = (test_size, [1 / NUM_CLASSES] * NUM_CLASSES)
    for part, (count, mix) in parts.items():
        folder = Path(root) / part
        folder.mkdir(parents=True, exist_ok=True)
        labels = rng.choice(NUM_CLASSES, size=count, p=mix)
        lines = []
        for i, label in enumerate(labels):
            path = folder / f"{i:05d}.npy"
            np.save(path, make_image(int(label), rng), allow_pickle=False)
            lines.append(f"{part}/{i:05d}.npy {int(label)}")
        index = Path(root) / f"{part}.txt"
        index.write_text("\n".join(lines) + "\n")
        out[part] = str(index)
    return out


def image_process(line: str, root: str | None = None) -> list:
    """Index line ``<relative path> <label>`` → ``[image, label]`` (paths relative to the index's folder)."""
    rel, label = line.split()
    root = root or os.path.dirname(os.environ.get("TRAIN_DATASET_URL", "") or ".")
    return [np.load(os.path.join(root, rel), allow_pickle=False), int(label)]


def load_index(index_path: str) -> tuple[np.ndarray, np.ndarray]:
    root = os.path.dirname(index_path)
    rows = [image_process(line, root) for line in Path(index_path).read_text().splitlines() if line.strip()]
    return np.stack([r[0] for r in rows]), np.array([r[1] for r in rows])


# ---------------------------------------------------------------------------------------------- model
class Estimator:
    """A one-hidden-layer MLP trained with minibatch SGD, in numpy.

    ``fit``/``evaluate``/``predict``, ``get_weights``/``set_weights`` (list of arrays, Keras order: W1, b1,
    W2, b2), ``save``/``load`` as safetensors. The initial weights come from a fixed seed so every client
    starts from the same model, as FedAvg assumes.
    """

    def __init__(self, hidden: int = 64, learning_rate: float = 0.2, seed: int = 0, **kwargs) -> None:
        rng = np.random.default_rng(seed)
        d = IMAGE_SIZE * IMAGE_SIZE
        self.learning_rate = float(learning_rate)
        self.w1 = (rng.standard_normal((d, hidden)) * np.sqrt(2.0 / d)).astype(np.float32)
        self.b1 = np.zeros(hidden, np.float32)
        self.w2 = (rng.standard_normal((hidden, NUM_CLASSES)) * np.sqrt(1.0 / hidden)).astype(np.float32)
        self.b2 = np.zeros(NUM_CLASSES, np.float32)
        self._rng = np.random.default_rng(seed + 1)

    @staticmethod
    def _xy(data, y=None):
        if y is None:
            x, y = getattr(data, "x", data), getattr(data, "y", None)
        else:
            x = data
        x = np.asarray([np.asarray(v, np.float32) for v in x]) if not isinstance(x, np.ndarray) or \
            x.dtype == object else x.astype(np.float32)
        return x.reshape(len(x), -1) - 0.5, None if y is None else np.asarray(y, dtype=np.int64)

    def _forward(self, x):
        h = np.maximum(x @ self.w1 + self.b1, 0.0)
        logits = h @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return h, p / p.sum(axis=1, keepdims=True)

    def fit(self, train_data, valid_data=None, epochs: int = 1, batch_size: int = 32, **kwargs) -> dict:
        x, y = self._xy(train_data)
        lr = float(kwargs.get("learning_rate", self.learning_rate))
        for _ in range(int(epochs)):
            order = self._rng.permutation(len(x))
            for start in range(0, len(x), int(batch_size)):
                idx = order[start:start + int(batch_size)]
                xb, yb = x[idx], y[idx]
                h, p = self._forward(xb)
                g = p
                g[np.arange(len(yb)), yb] -= 1.0
                g /= len(yb)
                gw2, gb2 = h.T @ g, g.sum(0)
                gh = (g @ self.w2.T) * (h > 0)
                gw1, gb1 = xb.T @ gh, gh.sum(0)
                self.w1 -= lr * gw1
                self.b1 -= lr * gb1
                self.w2 -= lr * gw2
                self.b2 -= lr * gb2
        return {"accuracy": self.evaluate(train_data)["accuracy"]}

    def predict(self, data, **kwargs):
        x, _ = self._xy(data, y=np.zeros(len(getattr(data, "x", data))))
        return self._forward(x)[1].argmax(axis=1)

    def evaluate(self, data, y=None, **kwargs) -> dict:
        x, y = self._xy(data, y)
        pred = self._forward(x)[1].argmax(axis=1)
        return {"accuracy": float((pred == y).mean())}

    def get_weights(self) -> list[np.ndarray]:
        return [self.w1, self.b1, self.w2, self.b2]

    def set_weights(self, weights) -> None:
        self.w1, self.b1, self.w2, self.b2 = (np.array(w, dtype=np.float32) for w in weights)

    def save(self, model_path: str) -> str:
        Path(model_path).parent.mkdir(parents=True, exist_ok=True)
        Path(model_path).write_bytes(dumps_arrays(list_to_arrays(self.get_weights())))
        return model_path

    def load(self, model_url: str) -> None:
        arrays, _ = loads_arrays(Path(model_url).read_bytes())
        self.set_weights(arrays_to_list(arrays))
