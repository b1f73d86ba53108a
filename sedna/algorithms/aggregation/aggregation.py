"""Aggregation strategies for federated learning.

The arithmetic is one pure function, :func:`weighted_mean`, plus a streaming form, :class:`WeightedSum`, that
the aggregation server feeds one client update at a time (it never holds more than one update plus the running
sum). ``FedAvg`` is the strategy object workers name (``aggregation="FedAvg"``); ``MistNet`` and ``FedAvgV2``
are the parameter holders ``FederatedLearningV2`` / ``AggregationServerV2`` read.

Compatibility: upstream's ``FedAvg.aggregate`` returns nested Python lists; ours returns a list of numpy
arrays (one per layer, same order and shapes), which every ``set_weights`` we know accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["AggClient", "BaseAggregation", "FedAvg", "FedAvgV2", "MistNet", "WeightedSum", "weighted_mean"]

logger = logging.getLogger(__name__)


class AggClient:
    """One client's contribution to a round: how many samples it trained on and its weights."""

    num_samples: int
    weights: Any

    def __init__(self, num_samples: int = 0, weights: Any = None) -> None:
        self.num_samples = num_samples
        self.weights = weights

    def __repr__(self) -> str:
        layers = len(self.weights) if self.weights is not None else 0
        return f"AggClient(num_samples={self.num_samples}, layers={layers})"


ADD_CHUNK = 1 << 18   # elements per step of WeightedSum's in-place add


def _accumulator_dtype(dtype: np.dtype) -> np.dtype:
    # integer/bool layers (e.g. step counters) are averaged in float64 and cast back at the end
    return np.result_type(dtype, np.float32) if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


class WeightedSum:
    """Running ``Σ n_k · w_k`` over named layers; :meth:`mean` divides by ``Σ n_k``.

    Layers keep their names and original dtypes; the first update fixes names and shapes, later updates must
    match (``ValueError`` names the layer otherwise).
    """

    def __init__(self) -> None:
        self._sum: dict[str, np.ndarray] = {}
        self._dtypes: dict[str, np.dtype] = {}
        self.total = 0
        self.count = 0
        self._scratch: np.ndarray | None = None

    def add(self, weights: Mapping[str, np.ndarray], num_samples: int) -> None:
        n = int(num_samples)
        if n < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        if self._sum:
            if set(weights) != set(self._sum):
                raise ValueError(f"update layers {sorted(weights)} differ from the round's {sorted(self._sum)}")
            for name, arr in weights.items():
                if np.shape(arr) != self._sum[name].shape:
                    raise ValueError(f"layer {name}: shape {np.shape(arr)} differs from "
                                     f"{self._sum[name].shape}")
        for name, arr in weights.items():
            arr = np.asarray(arr)
            acc = self._sum.get(name)
            if acc is None:
                self._dtypes[name] = arr.dtype
                acc = np.zeros(arr.shape, dtype=_accumulator_dtype(arr.dtype))
                self._sum[name] = acc
            if n:
                self._add_scaled(acc, arr, n)
        self.total += n
        self.count += 1

    def _add_scaled(self, acc: np.ndarray, arr: np.ndarray, n: int) -> None:
        """``acc += n · arr`` in place, a chunk at a time through one small scratch buffer: no temporary of the
        layer's size (a 200 MB layer would need another 200 MB); each element is computed exactly as before."""
        flat_acc, flat = acc.reshape(-1), arr.reshape(-1)
        chunk = min(ADD_CHUNK, flat.size)
        if self._scratch is None or self._scratch.dtype != acc.dtype or self._scratch.size < chunk:
            self._scratch = np.empty(chunk, dtype=acc.dtype)
        for start in range(0, flat.size, ADD_CHUNK):
            part = flat_acc[start:start + ADD_CHUNK]
            scaled = self._scratch[:part.size]
            np.multiply(flat[start:start + ADD_CHUNK], n, out=scaled, dtype=acc.dtype)
            np.add(part, scaled, out=part)

    def mean(self, *, spend: bool = False) -> dict[str, np.ndarray]:
        """``Σ n_k · w_k / Σ n_k`` per layer, in the layer's dtype.

        ``spend=True`` (the aggregation server, once per round) divides float layers in place and hands out the
        running sum's own memory as the mean, instead of a new array per layer; the values are the same, and
        this sum is empty afterwards."""
        if not self._sum:
            return {}
        out = {}
        for name, acc in self._sum.items():
            if spend and self.total and acc.dtype == self._dtypes[name]:
                out[name] = np.divide(acc, self.total, out=acc)
                continue
            mean = acc / self.total if self.total else acc
            dtype = self._dtypes[name]
            if not np.issubdtype(dtype, np.floating):
                mean = np.rint(mean)
            out[name] = mean.astype(dtype, copy=False)
        if spend:
            self._sum, self._dtypes, self.total, self.count = {}, {}, 0, 0
        return out


def weighted_mean(weights: Sequence[Sequence[np.ndarray]], num_samples: Sequence[int]) -> list[np.ndarray]:
    """``W_i = Σ_k (n_k / N) · w_{k,i}`` for every layer ``i``; the FedAvg arithmetic, as a pure function."""
    if len(weights) != len(num_samples):
        raise ValueError(f"{len(weights)} weight lists but {len(num_samples)} sample counts")
    acc = WeightedSum()
    for layers, n in zip(weights, num_samples):
        acc.add({f"{i:04d}": np.asarray(w) for i, w in enumerate(layers)}, n)
    mean = acc.mean()
    return [mean[name] for name in sorted(mean)]


class BaseAggregation:
    """A strategy: ``aggregate(clients) -> weights``; keeps the last result and its sample total."""

    def __init__(self) -> None:
        self.total_size = 0
        self.weights: list[np.ndarray] | None = None
        self.parameters: dict[str, Any] = {}

    def aggregate(self, clients: Iterable[AggClient]) -> Any:
        raise TypeError(f"{type(self).__name__} has no server-side aggregation")


@ClassFactory.register(ClassType.FL_AGG, alias="FedAvg")
class FedAvg(BaseAggregation):
    """Federated averaging: the sample-weighted mean of every layer (McMahan et al., 2017)."""

    def aggregate(self, clients: Iterable[AggClient]) -> list[np.ndarray] | None:
        clients = list(clients)
        if not clients:
            return self.weights
        self.weights = weighted_mean([c.weights for c in clients], [c.num_samples for c in clients])
        self.total_size = sum(int(c.num_samples) for c in clients)
        return self.weights


def _to_int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


@ClassFactory.register(ClassType.FL_AGG, alias="MistNet")
class MistNet(BaseAggregation):
    """Parameters of MistNet split learning for the V2 path: cut layer and Laplace-noise epsilon.

    Upstream converts a numeric-string ``epsilon`` from ``cut_layer`` by mistake; we convert each from itself.
    """

    def __init__(self, cut_layer: Any, epsilon: Any = 100) -> None:
        super().__init__()
        self.cut_layer = _to_int("cut_layer", cut_layer)
        self.epsilon = 100 if epsilon in (None, "") else _to_int("epsilon", epsilon)
        self.parameters = {"type": "mistnet", "cut_layer": self.cut_layer, "epsilon": self.epsilon}

    def aggregate(self, clients: Iterable[AggClient]) -> Any:
        # MistNet trains the server half on client features; there is nothing to average
        return self.weights


@ClassFactory.register(ClassType.FL_AGG, alias="FedAvgV2")
class FedAvgV2(FedAvg):
    """FedAvg for the V2 path; ``parameters = {"type": "fedavg"}`` selects it in ``AggregationServerV2``."""

    def __init__(self) -> None:
        super().__init__()
        self.parameters = {"type": "fedavg"}
