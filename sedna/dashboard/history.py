"""Bounded in-memory metrics history per object, for the plots.

Kubernetes keeps only the current status of a CR, so the dashboard remembers what it saw: each time an
object's numbers change it appends ``(time, {metric: value})`` to that object's ring of at most ``max_points``
samples, and keeps at most ``max_objects`` objects (the least recently updated is dropped first). Nothing is
written to disk: a restarted dashboard starts with empty plots and fills them from the next changes (the
current values are recorded again at start-up, so every plot has at least its latest point).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Any

Key = tuple[str, str, str]        # (kind, namespace, name)


class MetricsHistory:
    def __init__(self, max_points: int = 720, max_objects: int = 500):
        self.max_points = max_points
        self.max_objects = max_objects
        self._lock = threading.Lock()
        self._rings: OrderedDict[Key, deque[tuple[float, dict[str, float]]]] = OrderedDict()

    def record(self, key: Key, when: float, sample: dict[str, float]) -> bool:
        """Append ``sample`` unless it equals the object's last one; answers whether it was appended."""
        if not sample:
            return False
        with self._lock:
            ring = self._rings.get(key)
            if ring is None:
                ring = self._rings[key] = deque(maxlen=self.max_points)
                while len(self._rings) > self.max_objects:
                    self._rings.popitem(last=False)
            elif ring and ring[-1][1] == sample:
                return False
            ring.append((when, dict(sample)))
            self._rings.move_to_end(key)
            return True

    def forget(self, key: Key) -> None:
        with self._lock:
            self._rings.pop(key, None)

    def series(self, key: Key) -> dict[str, Any]:
        """Column form for the plots: ``{"t": [...], "series": {metric: [value or None, ...]}}``."""
        with self._lock:
            samples = list(self._rings.get(key) or ())
        names: list[str] = []
        for _, sample in samples:
            names.extend(n for n in sample if n not in names)
        return {"t": [t for t, _ in samples],
                "series": {n: [s.get(n) for _, s in samples] for n in names},
                "maxPoints": self.max_points}
