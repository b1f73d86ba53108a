"""Motion check between two frames by sparse optical flow (sdk.md §12.1), in numpy — OpenCV not needed.

``LukasKanade()(old_frame, new_frame) -> bool``: Shi-Tomasi corners on the old frame (at most 100, quality
0.3, minimum distance 7, block 7), tracked into the new frame by pyramidal Lucas-Kanade (15×15 window,
levels 0-2, at most 10 iterations or a step under 0.03 px). Motion = the rounded positions of the tracked
points are not all equal to the rounded old positions. No corners, or any error → False, as upstream.

Registered as ``ClassType.OF`` ``LukasKanadeOF`` and ``LukasKanadeOF_CUDA`` (upstream's GPU variant; here
the same numpy code, since this package has no CUDA path).
"""

from __future__ import annotations

import logging

import numpy as np

from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["LukasKanade", "LukasKanadeCUDA", "good_features_to_track", "pyramidal_lucas_kanade"]

logger = logging.getLogger(__name__)


def _to_gray(frame: np.ndarray) -> np.ndarray:
    image = np.asarray(frame)
    if image.ndim == 3:
        if image.shape[2] >= 3:
            image = image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114
        else:
            image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"frame must be HxW or HxWxC, got shape {np.shape(frame)}")
    return image.astype(np.float32)


def _box_sum(image: np.ndarray, size: int) -> np.ndarray:
    """Sum over a size×size window centred on each pixel (edges replicated), via an integral image."""
    half = size // 2
    padded = np.pad(image, ((half + 1, half), (half + 1, half)), mode="edge")
    integral = padded.cumsum(0).cumsum(1)
    return (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
            + integral[:-size, :-size])


def _gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel derivatives (3×3), edges replicated."""
    p = np.pad(image, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return gx / 8.0, gy / 8.0


def good_features_to_track(gray: np.ndarray, max_corners: int = 100, quality_level: float = 0.3,
                           min_distance: float = 7, block_size: int = 7) -> np.ndarray:
    """Shi-Tomasi corners as an ``(N, 2)`` float array of ``(x, y)``, strongest first."""
    gx, gy = _gradients(gray)
    a = _box_sum(gx * gx, block_size)
    b = _box_sum(gx * gy, block_size)
    c = _box_sum(gy * gy, block_size)
    response = (a + c) / 2 - np.sqrt(((a - c) / 2) ** 2 + b * b)
    peak = float(response.max()) if response.size else 0.0
    if peak <= 0:
        return np.empty((0, 2), np.float32)
    # local maxima (3×3) above quality × strongest response
    padded = np.pad(response, 1, mode="constant", constant_values=-np.inf)
    neighbourhood = np.max(np.stack([padded[dy:dy + response.shape[0], dx:dx + response.shape[1]]
                                     for dy in range(3) for dx in range(3)]), axis=0)
    mask = (response >= quality_level * peak) & (response >= neighbourhood)
    ys, xs = np.nonzero(mask)
    order = np.argsort(-response[ys, xs], kind="stable")
    chosen: list[tuple[float, float]] = []
    min_sq = float(min_distance) ** 2
    for idx in order:
        x, y = float(xs[idx]), float(ys[idx])
        if all((x - cx) ** 2 + (y - cy) ** 2 >= min_sq for cx, cy in chosen):
            chosen.append((x, y))
            if len(chosen) >= max_corners:
                break
    return np.asarray(chosen, np.float32).reshape(-1, 2)


def _downsample(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    img = image[:h, :w]
    return (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2]) / 4.0


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples at float coordinates (clamped to the image)."""
    h, w = image.shape
    xs = np.clip(xs, 0, w - 1.001)
    ys = np.clip(ys, 0, h - 1.001)
    x0 = np.floor(xs).astype(np.intp)
    y0 = np.floor(ys).astype(np.intp)
    fx, fy = xs - x0, ys - y0
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def pyramidal_lucas_kanade(old: np.ndarray, new: np.ndarray, points: np.ndarray, win_size: int = 15,
                           max_level: int = 2, max_iter: int = 10, eps: float = 0.03
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Track ``points`` (``(N, 2)`` x, y) from ``old`` to ``new`` (gray); returns ``(new_points, status)``."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    old_pyr, new_pyr = [old.astype(np.float64)], [new.astype(np.float64)]
    for _ in range(max_level):
        if min(old_pyr[-1].shape) < 2 * win_size:
            break
        old_pyr.append(_downsample(old_pyr[-1]))
        new_pyr.append(_downsample(new_pyr[-1]))
    half = win_size // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    oy, ox = np.meshgrid(offsets, offsets, indexing="ij")
    guess = np.zeros_like(pts)
    status = np.ones(len(pts), bool)
    for level in range(len(old_pyr) - 1, -1, -1):
        prev_img, next_img = old_pyr[level], new_pyr[level]
        gx_img, gy_img = _gradients(prev_img)
        scaled = pts / (2 ** level)
        wx = scaled[:, 0, None, None] + ox
        wy = scaled[:, 1, None, None] + oy
        patch = _sample(prev_img, wx, wy)
        ix = _sample(gx_img, wx, wy)
        iy = _sample(gy_img, wx, wy)
        gxx, gxy, gyy = (ix * ix).sum((1, 2)), (ix * iy).sum((1, 2)), (iy * iy).sum((1, 2))
        det = gxx * gyy - gxy * gxy
        min_eig = ((gxx + gyy) / 2 - np.sqrt(((gxx - gyy) / 2) ** 2 + gxy ** 2)) / (win_size * win_size)
        status &= (min_eig > 1e-4) & (np.abs(det) > 1e-12)
        safe_det = np.where(np.abs(det) > 1e-12, det, 1.0)
        flow = np.zeros_like(pts)
        for _ in range(max_iter):
            dx = guess[:, 0] + flow[:, 0]
            dy = guess[:, 1] + flow[:, 1]
            moved = _sample(next_img, wx + dx[:, None, None], wy + dy[:, None, None])
            diff = patch - moved
            bx, by = (diff * ix).sum((1, 2)), (diff * iy).sum((1, 2))
            step_x = (gyy * bx - gxy * by) / safe_det
            step_y = (gxx * by - gxy * bx) / safe_det
            active = status & (np.hypot(step_x, step_y) >= eps)
            flow[:, 0] += np.where(status, step_x, 0.0)
            flow[:, 1] += np.where(status, step_y, 0.0)
            if not active.any():
                break
        guess = guess + flow
        if level > 0:
            guess = guess * 2
    tracked = pts + guess
    h, w = old.shape
    inside = (tracked[:, 0] >= 0) & (tracked[:, 0] <= w - 1) & (tracked[:, 1] >= 0) & (tracked[:, 1] <= h - 1)
    return tracked.astype(np.float32), status & inside & np.isfinite(tracked).all(1)


class LukasKanade:
    """``instance(old_frame, new_frame) -> bool``: did anything move? (see the module doc)."""

    def __init__(self, max_corners: int = 100, quality_level: float = 0.3, min_distance: float = 7,
                 block_size: int = 7, win_size: int = 15, max_level: int = 2, max_iter: int = 10,
                 eps: float = 0.03, **kwargs):
        self.feature_params = {"max_corners": max_corners, "quality_level": quality_level,
                               "min_distance": min_distance, "block_size": block_size}
        self.lk_params = {"win_size": win_size, "max_level": max_level, "max_iter": max_iter, "eps": eps}

    def __call__(self, old_frame: np.ndarray, current_frame: np.ndarray) -> bool:
        try:
            old_gray, new_gray = _to_gray(old_frame), _to_gray(current_frame)
            if old_gray.shape != new_gray.shape:
                return True  # a different frame size is a different scene
            points = good_features_to_track(old_gray, **self.feature_params)
            if len(points) == 0:
                return False
            tracked, status = pyramidal_lucas_kanade(old_gray, new_gray, points, **self.lk_params)
            good_new, good_old = tracked[status], points[status]
            if len(good_new) == 0:
                return False
            return not np.allclose(np.round(good_new), np.round(good_old))
        except Exception as exc:  # noqa: BLE001 - upstream semantics: an error means "no motion"
            logger.debug("optical flow failed: %s", exc)
            return False


class LukasKanadeCUDA(LukasKanade):
    """Upstream's GPU variant; the same numpy computation here."""


ClassFactory.register_cls(LukasKanade, ClassType.OF, alias="LukasKanadeOF")
ClassFactory.register_cls(LukasKanadeCUDA, ClassType.OF, alias="LukasKanadeOF_CUDA")
