"""A YOLO-format image directory as a torch dataset (the layout of COCO128).

``<root>/images/<split>/<name>.jpg`` with labels in ``<root>/labels/<split>/<name>.txt``, one object per line:
``class x_center y_center width height`` (normalised to 0..1). An image without a label file has no objects.
Images are resized to ``image_size``² RGB and scaled to 0..1; :meth:`YoloDirDataset.collate_fn` batches them
as YOLOv5 does: images ``(B, 3, S, S)`` and targets ``(M, 6)`` = ``[image index in batch, class, x, y, w, h]``.
Needs Pillow (installed with the ``torch`` extra).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "YoloDirDataset", "label_path"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def label_path(image_path: str) -> str:
    """``.../images/<split>/x.jpg`` → ``.../labels/<split>/x.txt`` (the last ``/images/`` is replaced)."""
    head, sep, tail = image_path.rpartition(f"{os.sep}images{os.sep}")
    base = f"{head}{os.sep}labels{os.sep}{tail}" if sep else image_path
    return os.path.splitext(base)[0] + ".txt"


def read_labels(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        return np.zeros((0, 5), np.float32)
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 5:
                raise ValueError(f"{path}:{lineno}: expected 'class x y w h', got {line.strip()!r}")
            rows.append([float(p) for p in parts])
    return np.asarray(rows, np.float32).reshape(-1, 5)


class YoloDirDataset:
    """Images under ``images_dir`` (searched recursively, sorted) with their YOLO label files."""

    def __init__(self, images_dir: str, image_size: int = 640) -> None:
        if not os.path.isdir(images_dir):
            raise ValueError(f"YOLO image directory {images_dir!r} does not exist")
        self.images = sorted(os.path.join(d, f) for d, _, files in os.walk(images_dir) for f in files
                             if f.lower().endswith(IMAGE_EXTENSIONS))
        if not self.images:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {images_dir!r}")
        self.image_size = int(image_size)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, np.ndarray]:
        import torch
        from PIL import Image

        path = self.images[index]
        with Image.open(path) as img:
            img = img.convert("RGB").resize((self.image_size, self.image_size))
            pixels = np.asarray(img, np.float32) / 255.0
        return torch.from_numpy(pixels.transpose(2, 0, 1).copy()), read_labels(label_path(path))

    @staticmethod
    def collate_fn(batch: list[tuple[Any, np.ndarray]]) -> tuple[Any, Any]:
        import torch

        images = torch.stack([img for img, _ in batch])
        targets = [np.concatenate([np.full((len(lab), 1), i, np.float32), lab], axis=1)
                   for i, (_, lab) in enumerate(batch)]
        return images, torch.from_numpy(np.concatenate(targets, axis=0).reshape(-1, 6))
