"""Several seeded synthetic cameras watching the same three people (the object-search and object-tracking
examples): each camera has its own lanes, walking directions, noise and the frames in which each person is in
view, so the same person must be recognised across cameras by appearance alone.

``render(camera, index)`` draws a frame; ``truth(camera, index)`` gives each visible person's box.
"""

from __future__ import annotations

import numpy as np
from scene import HEIGHT, PEOPLE, PERSON_H, PERSON_W, WIDTH, draw_person

# camera: {person: (lane y, start x, speed px/frame, first frame, last frame)}
CAMERAS = {
    "cam-0": {"target": (10, 8, 4, 0, 11), "red-green": (48, 150, -3, 0, 99), "yellow-blue": (84, 40, 3, 4, 99)},
    "cam-1": {"target": (84, 170, -4, 6, 17), "red-green": (10, 20, 5, 0, 99), "yellow-blue": (48, 100, -2, 0, 13)},
}
CAMERA_SEEDS = {"cam-0": 101, "cam-1": 202}


def _position(walk: tuple, index: int) -> tuple[int, int] | None:
    lane, start, speed, first, last = walk
    if not first <= index <= last:
        return None
    span = WIDTH - PERSON_W
    x = (start + speed * index) % (2 * span)
    x = x if x <= span else 2 * span - x  # bounce at the edges
    return int(x), int(lane)


def render(camera: str, index: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed * 100003 + CAMERA_SEEDS[camera] * 1009 + index)
    frame = rng.integers(0, 40, size=(HEIGHT, WIDTH, 3)).astype(np.uint8)
    for person, walk in CAMERAS[camera].items():
        pos = _position(walk, index)
        if pos is not None:
            draw_person(frame, pos[0], pos[1], PEOPLE[person][0], PEOPLE[person][1], rng)
    return frame


def truth(camera: str, index: int) -> dict[str, list[int]]:
    """``{person: [x1, y1, x2, y2]}`` for the people visible in frame ``index`` of ``camera``."""
    out = {}
    for person, walk in CAMERAS[camera].items():
        pos = _position(walk, index)
        if pos is not None:
            out[person] = [pos[0], pos[1], pos[0] + PERSON_W, pos[1] + PERSON_H]
    return out
