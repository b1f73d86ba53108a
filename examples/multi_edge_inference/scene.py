"""A seeded synthetic video: people are two-colour rectangles (shirt over trousers) walking in lanes.

``render(index)`` draws frame ``index``; ``truth(index)`` gives each visible person's box. Person ``target``
(red shirt, blue trousers) is the one to re-identify; the others share one of its two colours each, so
only a feature that keeps both colours and their order (top/bottom) tells them apart.
"""

from __future__ import annotations

import numpy as np

HEIGHT, WIDTH = 120, 192
PERSON_H, PERSON_W = 30, 12

# name: (shirt RGB, trousers RGB, lane y, start x, speed px/frame, first frame, last frame)
PEOPLE = {
    "target": ((220, 40, 40), (40, 60, 220), 10, 8, 4, 0, 15),
    "red-green": ((220, 40, 40), (40, 200, 60), 48, 150, -3, 0, 99),
    "yellow-blue": ((230, 210, 40), (40, 60, 220), 84, 40, 3, 0, 99),
}


def _position(spec: tuple, index: int) -> tuple[int, int] | None:
    _, _, lane, start, speed, first, last = spec
    if not first <= index <= last:
        return None
    span = WIDTH - PERSON_W
    x = (start + speed * index) % (2 * span)
    x = x if x <= span else 2 * span - x  # bounce at the edges
    return int(x), int(lane)


def draw_person(image: np.ndarray, x: int, y: int, shirt: tuple, trousers: tuple, rng: np.random.Generator,
                height: int = PERSON_H, width: int = PERSON_W) -> None:
    half = height // 2
    noise = rng.integers(-12, 13, size=(height, width, 3))
    block = np.empty((height, width, 3), np.int32)
    block[:half] = shirt
    block[half:] = trousers
    image[y:y + height, x:x + width] = np.clip(block + noise, 0, 255).astype(np.uint8)


def render(index: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed * 100003 + index)
    frame = rng.integers(0, 40, size=(HEIGHT, WIDTH, 3)).astype(np.uint8)
    for spec in PEOPLE.values():
        pos = _position(spec, index)
        if pos is not None:
            draw_person(frame, pos[0], pos[1], spec[0], spec[1], rng)
    return frame


def truth(index: int) -> dict[str, list[int]]:
    """``{person: [x1, y1, x2, y2]}`` for the people visible in frame ``index``."""
    out = {}
    for name, spec in PEOPLE.items():
        pos = _position(spec, index)
        if pos is not None:
            out[name] = [pos[0], pos[1], pos[0] + PERSON_W, pos[1] + PERSON_H]
    return out


# someone who is in no video (green shirt, yellow trousers): a search for them finds nothing
STRANGER = ((40, 200, 60), (230, 210, 40))


def query_image(seed: int = 11, person: str = "target") -> np.ndarray:
    """A close-up of ``person`` (default the target; ``stranger`` is in no video), larger than in the video and
    with its own noise (the user's photo)."""
    rng = np.random.default_rng(seed)
    shirt, trousers = STRANGER if person == "stranger" else PEOPLE[person][:2]
    image = np.zeros((60, 24, 3), np.uint8)
    draw_person(image, 0, 0, shirt, trousers, rng, height=60, width=24)
    return image
