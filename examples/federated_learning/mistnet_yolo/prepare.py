"""Synthetic COCO128-shaped data for the MistNet YOLO example, and a generated "pretrained" model.

Writes, under --out:
  data/<n>/COCO/coco128/images/train2017/<id>.jpg   images with coloured boxes on a noisy background
  data/<n>/COCO/coco128/labels/train2017/<id>.txt   YOLO labels: "class x_center y_center width height"
  pretrained/yolo_pretrained.safetensors            TinyYolo pre-trained here (nothing downloaded)
for clients n = 1..--clients, each with its own seed. Classes are COCO's person (0), car (2) and dog (16),
one colour each. The "pretrained" model is TinyYolo trained for a few steps on a separate generated set
(the role of upstream's downloaded YOLOv5 weights): MistNet's clients only run its frozen lower layers, so
they need a backbone whose features carry information (a random init gives features about as large as the
Laplace noise of epsilon=100).
"""

import argparse
import os

import numpy as np
import torch
from PIL import Image
from yolo import TinyYolo, yolo_loss

from sedna.algorithms.aggregation.mistnet import state_arrays
from sedna.common.tensors import dumps_arrays

CLASSES = {0: (220, 40, 40), 2: (40, 200, 60), 16: (50, 80, 230)}


def make_image(rng, width, height):
    pixels = rng.normal(110, 25, (height, width, 3))
    labels = []
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.choice(list(CLASSES)))
        bw, bh = rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4)
        cx, cy = rng.uniform(bw / 2, 1 - bw / 2), rng.uniform(bh / 2, 1 - bh / 2)
        x0, x1 = int((cx - bw / 2) * width), int((cx + bw / 2) * width)
        y0, y1 = int((cy - bh / 2) * height), int((cy + bh / 2) * height)
        pixels[y0:y1, x0:x1] = np.array(CLASSES[cls]) + rng.normal(0, 10, (y1 - y0, x1 - x0, 3))
        labels.append(f"{cls} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), labels


def pretrain(seed, images=32, steps=20, size=64):
    """TinyYolo trained on its own generated set (resized as the workers resize), seeded."""
    rng = np.random.default_rng(seed + 10_000)
    batch = []
    for _ in range(images):
        img, lines = make_image(rng, 128, 96)
        pixels = np.asarray(img.resize((size, size)), np.float32).transpose(2, 0, 1) / 255.0
        batch.append((pixels, np.array([[float(v) for v in line.split()] for line in lines], np.float32)))
    x = torch.from_numpy(np.stack([p for p, _ in batch]))
    targets = torch.from_numpy(np.concatenate([np.concatenate([np.full((len(t), 1), i, np.float32), t], 1)
                                               for i, (_, t) in enumerate(batch)]))
    torch.manual_seed(seed)
    model = TinyYolo()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = yolo_loss(model(x), targets)
        loss.backward()
        opt.step()
    model.eval()
    return model, float(loss.detach())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--images", type=int, default=64, help="images per client")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for n in range(1, args.clients + 1):
        rng = np.random.default_rng(args.seed * 100 + n)
        root = os.path.join(args.out, "data", str(n), "COCO", "coco128")
        images, labels = os.path.join(root, "images", "train2017"), os.path.join(root, "labels", "train2017")
        os.makedirs(images, exist_ok=True)
        os.makedirs(labels, exist_ok=True)
        for i in range(args.images):
            image_id = f"{n:04d}{i:08d}"
            img, lines = make_image(rng, 128, 96)
            img.save(os.path.join(images, f"{image_id}.jpg"), quality=90)
            with open(os.path.join(labels, f"{image_id}.txt"), "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
    model, loss = pretrain(args.seed)
    os.makedirs(os.path.join(args.out, "pretrained"), exist_ok=True)
    with open(os.path.join(args.out, "pretrained", "yolo_pretrained.safetensors"), "wb") as fh:
        fh.write(dumps_arrays(state_arrays(model), {"model": "TinyYolo", "seed": args.seed, "loss": loss}))
    print(f"{args.clients} clients x {args.images} images and a pretrained TinyYolo (loss {loss:.3f}) under "
          f"{args.out}")


if __name__ == "__main__":
    main()
