"""A small YOLO-style detector in torch, shaped for MistNet's cut (no downloaded weights).

The layers run in sequence (``self.layers``), so ``cut_layer = 4`` splits the backbone's first four layers
(down to a stride-8 feature map) from the rest, as ``cut_layer: "4"`` does for YOLOv5 in the seed's job.
Output: one prediction per stride-8 grid cell, ``[tx, ty, tw, th, objectness, 80 class logits]``; the loss
is YOLO's three parts (box, objectness, class) with each object assigned to the cell holding its centre.
"""

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 80
STRIDE = 8


class Conv(nn.Sequential):
    def __init__(self, c_in, c_out, k=3, s=1):
        super().__init__(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class Bottleneck(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b = Conv(c, c, 1), Conv(c, c, 3)

    def forward(self, x):
        return x + self.b(self.a(x))


class Detect(nn.Module):
    def __init__(self, c, num_classes=NUM_CLASSES):
        super().__init__()
        self.conv = nn.Conv2d(c, 5 + num_classes, 1)

    def forward(self, x):
        return self.conv(x)


class TinyYolo(nn.Module):
    """Backbone (Conv s2, Conv s2, Bottleneck, Conv s2) | neck (Bottleneck, Conv) | Detect."""

    def __init__(self, num_classes=NUM_CLASSES, width=16):
        super().__init__()
        w = width
        self.layers = nn.Sequential(Conv(3, w, 3, 2), Conv(w, 2 * w, 3, 2), Bottleneck(2 * w),
                                    Conv(2 * w, 4 * w, 3, 2), Bottleneck(4 * w), Conv(4 * w, 4 * w, 3, 1),
                                    Detect(4 * w, num_classes))
        self.num_classes = num_classes

    def forward(self, x):
        return self.layers(x)

    def forward_to(self, x, cut_layer):
        return self.layers[:cut_layer](x)

    def forward_from(self, features, cut_layer):
        return self.layers[cut_layer:](features)


def yolo_loss(outputs, targets):
    """``outputs`` (B, 5+C, H, W); ``targets`` (M, 6) rows ``[image, class, x, y, w, h]`` normalised to 0..1."""
    b, _, h, w = outputs.shape
    targets = targets.float()
    obj_target = torch.zeros(b, h, w)
    loss_box = outputs.new_zeros(())
    loss_cls = outputs.new_zeros(())
    if len(targets):
        img = targets[:, 0].long()
        gx, gy = targets[:, 2] * w, targets[:, 3] * h
        cx, cy = gx.long().clamp(0, w - 1), gy.long().clamp(0, h - 1)
        obj_target[img, cy, cx] = 1.0
        pred = outputs[img, :, cy, cx]                       # (M, 5+C)
        box = torch.stack([gx - cx, gy - cy, targets[:, 4], targets[:, 5]], dim=1)
        loss_box = F.mse_loss(torch.sigmoid(pred[:, :4]), box)
        cls_target = torch.zeros(len(targets), outputs.shape[1] - 5)
        cls_target[torch.arange(len(targets)), targets[:, 1].long()] = 1.0
        loss_cls = F.binary_cross_entropy_with_logits(pred[:, 5:], cls_target)
    loss_obj = F.binary_cross_entropy_with_logits(outputs[:, 4], obj_target)
    return 5.0 * loss_box + loss_obj + loss_cls
