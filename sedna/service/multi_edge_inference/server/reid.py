"""``ReIDServer``: the ReID component's REST API, port 5000."""

from __future__ import annotations

from sedna.service.multi_edge_inference.server.base import MultiEdgeServer

__all__ = ["ReIDServer"]


class ReIDServer(MultiEdgeServer):
    """``POST /<service>/reid`` → the encoded ``model.inference(list)`` (the re-identified results).

    Upstream called ``inference`` on a component that has none; our ``ReID`` component has it. A model
    without ``inference`` gets the body queued with ``put`` and the answer is ``None``.
    """

    def post_routes(self):
        return {"reid": (self._reid, True)}

    def _reid(self, data):
        items = self.as_list(data)
        infer = getattr(self.model, "inference", None)
        if callable(infer):
            return infer(items)
        self.model.put(items)
        return None
