"""A synthetic helmet-detection world that runs on CPU with nothing downloaded.

A frame is an ``H x W x 3`` uint8 image split into a grid of cells (4 rows x 8 columns). A cell may hold a
head: a disc that is helmet-yellow (class 1, ``helmet``) or skin-coloured (class 2, ``head`` = no helmet),
on a noisy background whose brightness and contrast vary per frame, so some frames are hard.

A detector classifies every cell with a softmax (multinomial logistic regression) over pooled colour
features and returns boxes ``[x1, y1, x2, y2, score, label]`` (label 0 = helmet, 1 = head) for the cells it
thinks hold a head — the box format the IBT and Threshold hard-example filters read.

- the **little** model sees coarse features (the mean colour of each cell's centre): cheap, less sure;
- the **big** model sees a 4 x 4 grid of mean colours and the spread of each cell: more accurate.

Models are saved as ``.npz`` (loaded with ``allow_pickle=False``). The incremental-learning example
(``examples/incremental_learning/helmet_detection/helmet.py``) loads this very file as its ``helmet``.
"""

from __future__ import annotations

import os

import numpy as np

GRID = (4, 8)
CLASS_NAMES = ["helmet", "head"]  # box labels 0 and 1 (cell classes 1 and 2; 0 is background)
HELMET_RGB = np.array([225.0, 200.0, 45.0])
SKIN_RGB = np.array([195.0, 145.0, 115.0])


def parse_shape(text: str | None, default: tuple[int, int] = (416, 736)) -> tuple[int, int]:
    """``"416,736"`` → ``(416, 736)`` (the ``input_shape`` env of upstream's examples)."""
    if not text:
        return default
    parts = [int(p) for p in str(text).replace("x", ",").split(",") if p.strip()]
    if len(parts) < 2:
        raise ValueError(f"input_shape {text!r} needs two numbers, e.g. 416,736")
    return parts[0], parts[1]


def make_frame(rng: np.random.Generator, shape: tuple[int, int] = (416, 736),
               hard: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One frame and its cell labels (``GRID`` array of 0 background / 1 helmet / 2 head)."""
    height, width = shape
    rows, cols = GRID
    if hard is None:
        hard = bool(rng.random() < 0.3)
    contrast = rng.uniform(0.25, 0.45) if hard else rng.uniform(0.8, 1.0)
    noise = rng.uniform(35, 55) if hard else rng.uniform(8, 18)
    base = rng.uniform(90, 140, size=3)
    frame = np.empty((height, width, 3), dtype=np.float32)
    frame[:] = base
    labels = rng.choice(3, size=GRID, p=[0.5, 0.25, 0.25])
    cell_h, cell_w = height // rows, width // cols
    yy, xx = np.mgrid[0:cell_h, 0:cell_w]
    for r in range(rows):
        for c in range(cols):
            label = labels[r, c]
            if label == 0:
                continue
            colour = HELMET_RGB if label == 1 else SKIN_RGB
            colour = colour + rng.normal(0, 12, size=3)
            cy = cell_h / 2 + rng.uniform(-0.1, 0.1) * cell_h
            cx = cell_w / 2 + rng.uniform(-0.1, 0.1) * cell_w
            radius = min(cell_h, cell_w) * rng.uniform(0.25, 0.4)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
            patch = frame[r * cell_h:(r + 1) * cell_h, c * cell_w:(c + 1) * cell_w]
            patch[disc] = base + contrast * (colour - base)
    frame += rng.normal(0, noise, size=frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8), labels


def cell_features(frame: np.ndarray, kind: str) -> np.ndarray:
    """``(rows*cols, F)`` features of every cell; ``kind`` is ``little`` or ``big``."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {frame.shape}")
    rows, cols = GRID
    sub = 4
    height = frame.shape[0] // (rows * sub) * rows * sub
    width = frame.shape[1] // (cols * sub) * cols * sub
    if height == 0 or width == 0:
        raise ValueError(f"image {frame.shape} is smaller than the {rows * sub}x{cols * sub} grid")
    img = frame[:height, :width].astype(np.float32) / 255.0
    ch, cw = height // rows, width // cols
    if kind == "little":
        # mean colour of the central quarter of each cell, from a 4x subsampled image
        centre = img[::4, ::4].reshape(rows, ch // 4, cols, cw // 4, 3)
        q_h, q_w = max(ch // 16, 1), max(cw // 16, 1)
        mid_h, mid_w = ch // 8, cw // 8
        centre = centre[:, mid_h - q_h:mid_h + q_h, :, mid_w - q_w:mid_w + q_w, :]
        return centre.mean(axis=(1, 3)).reshape(rows * cols, 3)
    if kind == "big":
        blocks = img.reshape(rows, sub, ch // sub, cols, sub, cw // sub, 3).mean(axis=(2, 5))
        blocks = blocks.transpose(0, 2, 1, 3, 4).reshape(rows * cols, sub * sub * 3)
        spread = img.reshape(rows, ch, cols, cw, 3).std(axis=(1, 3)).reshape(rows * cols, 3)
        return np.concatenate([blocks, spread], axis=1)
    raise ValueError(f"feature kind must be 'little' or 'big', not {kind!r}")


class SoftmaxModel:
    """Multinomial logistic regression over standardised features, stored without pickle."""

    def __init__(self, kind: str, weights: np.ndarray, bias: np.ndarray, mean: np.ndarray, scale: np.ndarray):
        self.kind = kind
        self.weights, self.bias, self.mean, self.scale = weights, bias, mean, scale

    @classmethod
    def fit(cls, kind: str, features: np.ndarray, labels: np.ndarray, seed: int = 0) -> SoftmaxModel:
        from sklearn.linear_model import LogisticRegression

        mean = features.mean(axis=0)
        scale = features.std(axis=0) + 1e-6
        clf = LogisticRegression(max_iter=500, C=1.0, random_state=seed)
        clf.fit((features - mean) / scale, labels)
        weights = np.zeros((features.shape[1], 3))
        bias = np.full(3, -1e3)  # a class never seen in training is never predicted
        for i, label in enumerate(clf.classes_):
            if len(clf.classes_) == 2:
                sign = 1.0 if i == 1 else -1.0
                weights[:, label] = sign * clf.coef_[0] / 2
                bias[label] = sign * clf.intercept_[0] / 2
            else:
                weights[:, label] = clf.coef_[i]
                bias[label] = clf.intercept_[i]
        return cls(kind, weights, bias, mean, scale)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        logits = ((features - self.mean) / self.scale) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        expo = np.exp(logits)
        return expo / expo.sum(axis=1, keepdims=True)

    def save(self, path: str) -> str:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as fh:  # an open file keeps np.savez from appending ".npz"
            np.savez(fh, kind=np.array(self.kind), weights=self.weights, bias=self.bias, mean=self.mean,
                     scale=self.scale)
        return path

    @classmethod
    def load(cls, path: str) -> SoftmaxModel:
        with np.load(path, allow_pickle=False) as data:
            model = cls(str(data["kind"]), data["weights"], data["bias"], data["mean"], data["scale"])
        if model.weights.shape != (model.mean.shape[0], 3):
            raise ValueError(f"model {path} is inconsistent: weights {model.weights.shape}")
        return model


def detect(frame: np.ndarray, model: SoftmaxModel) -> list[list[float]]:
    """Boxes ``[x1, y1, x2, y2, score, label]`` of the cells classified as helmet (0) or head (1)."""
    frame = np.asarray(frame)
    probs = model.predict_proba(cell_features(frame, model.kind))
    classes = probs.argmax(axis=1)
    rows, cols = GRID
    ch, cw = frame.shape[0] // rows, frame.shape[1] // cols
    boxes = []
    for index in np.flatnonzero(classes > 0):
        r, c = divmod(int(index), cols)
        boxes.append([float(c * cw), float(r * ch), float((c + 1) * cw), float((r + 1) * ch),
                      round(float(probs[index, classes[index]]), 4), float(classes[index] - 1)])
    return boxes


def cell_accuracy(model: SoftmaxModel, frames: list[np.ndarray], labels: list[np.ndarray]) -> float:
    hits = total = 0
    for frame, label in zip(frames, labels):
        predicted = model.predict_proba(cell_features(frame, model.kind)).argmax(axis=1)
        hits += int((predicted == np.asarray(label).ravel()).sum())
        total += predicted.size
    return hits / total if total else 0.0


def precision_recall(model: SoftmaxModel, frames: list[np.ndarray], labels: list[np.ndarray]) -> dict:
    """Per-class precision/recall over heads (classes 1, 2), as lists (the IL deploy trigger's format)."""
    predicted = np.concatenate([model.predict_proba(cell_features(f, model.kind)).argmax(axis=1) for f in frames])
    truth = np.concatenate([np.asarray(label).ravel() for label in labels])
    precision, recall = [], []
    for cls in (1, 2):
        tp = int(((predicted == cls) & (truth == cls)).sum())
        precision.append(round(tp / max(int((predicted == cls).sum()), 1), 4))
        recall.append(round(tp / max(int((truth == cls).sum()), 1), 4))
    return {"precision": precision, "recall": recall}


def training_set(rng: np.random.Generator, kind: str, frames: int, shape: tuple[int, int]):
    feats, labels = [], []
    for _ in range(frames):
        frame, label = make_frame(rng, shape)
        feats.append(cell_features(frame, kind))
        labels.append(label.ravel())
    return np.concatenate(feats), np.concatenate(labels)
