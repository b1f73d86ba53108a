"""Client selection for the V2 aggregation server."""

from __future__ import annotations

from typing import Any

__all__ = ["SimpleClientChoose"]


class SimpleClientChoose:
    """Take the first ``per_round`` updates of each round (``parameters = {"per_round": n}``)."""

    def __init__(self, per_round: Any = 1) -> None:
        try:
            self.per_round = max(int(per_round), 1)
        except (TypeError, ValueError):
            raise ValueError(f"per_round must be an integer, got {per_round!r}") from None
        self.parameters = {"per_round": self.per_round}
