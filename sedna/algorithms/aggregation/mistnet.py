"""MistNet split learning (Wang et al.): what clients and the server share.

MistNet cuts a model after its first ``cut_layer`` layers. A client runs only the lower part on its own data,
adds Laplace noise to the features (local differential privacy, scale ``sensitivity / epsilon``) and sends
those features with the labels; it never sends weights or raw inputs. The server trains the upper part on the
union of the clients' features and sends the whole model back. The lower part never changes during the job
(it is the pretrained feature extractor), so a client needs the model only to compute features.

This module holds the pieces both sides use, so the server (``sedna.service``) and the client
(``sedna.core``) import them from below:

- the settings mapping of upstream's V2 API (:func:`client_settings`, :func:`server_settings`) — pure;
- the noise (:func:`laplace_noise`) and the cut (:func:`forward_to`, :func:`forward_from`,
  :func:`lower_parameter_names`);
- the two binary frames (safetensors via ``sedna.common.tensors``, never pickle):
  ``mistnet_features`` (client → server: ``features/NNNN`` and ``targets/NNNN`` per local batch, header
  ``client``, ``round``, ``num_samples``, ``cut_layer``, ``epsilon``) and ``mistnet_model`` (server →
  clients: the model's ``state_dict`` by name, header ``round_number``, ``exit_flag``, ``total_sample``,
  ``loss``, ``participants``).

torch is imported only by the functions that need it (it is an extra).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sedna.common.tensors import TensorFormatError, dumps_arrays, loads_arrays

__all__ = [
    "FEATURES_TYPE",
    "MODEL_TYPE",
    "MistNetSettings",
    "MistNetWireError",
    "client_settings",
    "decode_features",
    "decode_model",
    "encode_features",
    "encode_model",
    "forward_from",
    "forward_to",
    "laplace_noise",
    "laplace_scale",
    "load_state_arrays",
    "lower_parameter_names",
    "server_settings",
    "state_arrays",
]

FEATURES_TYPE = "mistnet_features"
MODEL_TYPE = "mistnet_model"
PROTOCOL_VERSION = 1
SERVER_PATH = "MistNet"
DEFAULT_PORT = 7363
DEFAULT_SENSITIVITY = 1.0


class MistNetWireError(ValueError):
    """A MistNet frame that is not what the protocol allows; the message says why."""


# ---- settings (upstream's V2 mapping) ---------------------------------------------------------------------
@dataclass
class MistNetSettings:
    """Everything a MistNet client or server needs, resolved from the V2 constructor arguments and env."""

    cut_layer: int
    epsilon: float
    sensitivity: float = DEFAULT_SENSITIVITY
    rounds: int = 1
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 0.01
    optimizer: str = "SGD"
    per_round: int = 1
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    transmitter: str = "ws"
    pretrained: str | None = None
    saved: str | None = None

    @property
    def noise_scale(self) -> float:
        return laplace_scale(self.epsilon, self.sensitivity)


def _number(name: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"MistNet {name} must be a number, got {value!r}") from None


def _common(aggregation: Any, estimator: Any, transmitter: Any, env: Mapping[str, str]) -> dict[str, Any]:
    params = dict(getattr(aggregation, "parameters", None) or {})
    if params.get("type") != "mistnet":
        raise ValueError(f"aggregation.parameters['type'] must be 'mistnet', got {params.get('type')!r}")
    if params.get("cut_layer") is None:
        raise ValueError("MistNet needs cut_layer (aggregation.parameters['cut_layer'])")
    hyper = dict(getattr(estimator, "hyperparameters", None) or {})
    cut_layer = _number("cut_layer", params["cut_layer"], int)
    if cut_layer < 1:
        raise ValueError(f"MistNet cut_layer must be >= 1, got {cut_layer}")
    epsilon = _number("epsilon", params.get("epsilon", 100), float)
    if epsilon <= 0:
        raise ValueError(f"MistNet epsilon must be > 0, got {epsilon}")
    lr = hyper.get("learning_rate", hyper.get("lr", 0.01))
    return {
        "cut_layer": cut_layer,
        "epsilon": epsilon,
        "sensitivity": _number("sensitivity", env.get("MISTNET_SENSITIVITY") or DEFAULT_SENSITIVITY, float),
        "rounds": max(_number("rounds", hyper.get("rounds") or env.get("exit_round") or 1, int), 1),
        "epochs": max(_number("epochs", hyper.get("epochs", 1), int), 1),
        "batch_size": max(_number("batch_size", hyper.get("batch_size", 16), int), 1),
        "learning_rate": _number("learning_rate", lr, float),
        "optimizer": str(hyper.get("optimizer") or "SGD"),
        "transmitter": getattr(transmitter, "name", None) or "ws",
        "pretrained": getattr(estimator, "pretrained", None) or env.get("PRETRAINED_MODEL_URL") or None,
        "saved": getattr(estimator, "saved", None) or env.get("MODEL_URL") or None,
    }


def client_settings(estimator: Any, aggregation: Any, transmitter: Any = None,
                    env: Mapping[str, str] | None = None) -> MistNetSettings:
    """``FederatedLearningV2`` side: server address from ``AGG_IP``/``AGG_PORT`` (127.0.0.1:7363)."""
    env = os.environ if env is None else env
    common = _common(aggregation, estimator, transmitter, env)
    return MistNetSettings(host=env.get("AGG_IP") or "127.0.0.1",
                           port=_number("AGG_PORT", env.get("AGG_PORT") or DEFAULT_PORT, int), **common)


def server_settings(estimator: Any, aggregation: Any, transmitter: Any = None, chooser: Any = None,
                    env: Mapping[str, str] | None = None) -> MistNetSettings:
    """``AggregationServerV2`` side: bind ``AGG_BIND_IP`` (else ``POD_IP``, else 0.0.0.0) and ``AGG_BIND_PORT``
    (7363); clients per round
    from ``chooser.parameters['per_round']``, else ``PARTICIPANTS_COUNT``, else 1."""
    env = os.environ if env is None else env
    common = _common(aggregation, estimator, transmitter, env)
    per_round = (getattr(chooser, "parameters", None) or {}).get("per_round") or env.get("PARTICIPANTS_COUNT") or 1
    # POD_IP (set by the single-machine runtime, where pods share the host's 0.0.0.0) stands in for 0.0.0.0
    return MistNetSettings(host=env.get("AGG_BIND_IP") or env.get("POD_IP") or "0.0.0.0",
                           port=_number("AGG_BIND_PORT", env.get("AGG_BIND_PORT") or DEFAULT_PORT, int),
                           per_round=max(_number("per_round", per_round, int), 1), **common)


# ---- noise --------------------------------------------------------------------------------------------------
def laplace_scale(epsilon: float, sensitivity: float = DEFAULT_SENSITIVITY) -> float:
    """The Laplace mechanism's scale ``b = sensitivity / epsilon`` (noise std is ``b·√2``)."""
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    return float(sensitivity) / float(epsilon)


def laplace_noise(features: np.ndarray, epsilon: float, sensitivity: float = DEFAULT_SENSITIVITY,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """``features`` plus i.i.d. Laplace(0, sensitivity/epsilon) noise, as float32."""
    rng = rng or np.random.default_rng()
    scale = laplace_scale(epsilon, sensitivity)
    return (features + rng.laplace(0.0, scale, size=features.shape)).astype(np.float32)


# ---- the cut ------------------------------------------------------------------------------------------------
def _layers(model: Any):
    from torch import nn

    if isinstance(model, nn.Sequential):
        return model
    layers = getattr(model, "layers", None)
    if isinstance(layers, (nn.Sequential, nn.ModuleList)):
        return layers
    return None


def forward_to(model: Any, x: Any, cut_layer: int) -> Any:
    """Output of the first ``cut_layer`` layers: ``model.forward_to(x, cut_layer)`` if the model defines it,
    else the first ``cut_layer`` entries of an ``nn.Sequential`` (or of ``model.layers``)."""
    if hasattr(model, "forward_to"):
        return model.forward_to(x, cut_layer)
    layers = _layers(model)
    if layers is None:
        raise TypeError(f"{type(model).__name__} cannot be cut: give it forward_to/forward_from or make it an "
                        "nn.Sequential")
    for layer in list(layers)[:cut_layer]:
        x = layer(x)
    return x


def forward_from(model: Any, features: Any, cut_layer: int) -> Any:
    """The rest of the model from cut-layer features (``model.forward_from`` or the remaining layers)."""
    if hasattr(model, "forward_from"):
        return model.forward_from(features, cut_layer)
    layers = _layers(model)
    if layers is None:
        raise TypeError(f"{type(model).__name__} cannot be cut: give it forward_to/forward_from or make it an "
                        "nn.Sequential")
    for layer in list(layers)[cut_layer:]:
        features = layer(features)
    return features


def lower_parameter_names(model: Any, cut_layer: int) -> set[str]:
    """``state_dict`` names that belong to the first ``cut_layer`` layers (frozen under MistNet)."""
    layers = _layers(model)
    if layers is None:
        return set()
    prefix = "" if layers is model else next(n for n, m in model.named_children() if m is layers) + "."
    if cut_layer > len(layers):
        raise ValueError(f"cut_layer {cut_layer} is beyond the model's {len(layers)} layers")
    return {f"{prefix}{i}.{name}" for i, layer in enumerate(list(layers)[:cut_layer])
            for name in layer.state_dict()}


def state_arrays(model: Any) -> dict[str, np.ndarray]:
    return {name: t.detach().cpu().numpy().copy() for name, t in model.state_dict().items()}


def load_state_arrays(model: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Load arrays by ``state_dict`` name; names, shapes and dtypes must match the model exactly."""
    import torch

    own = model.state_dict()
    missing, extra = set(own) - set(arrays), set(arrays) - set(own)
    if missing or extra:
        raise MistNetWireError(f"model arrays do not match the model: missing {sorted(missing)[:5]}, "
                               f"unexpected {sorted(extra)[:5]}")
    loaded = {}
    for name, tensor in own.items():
        arr = np.asarray(arrays[name])
        # safetensors stores 0-d tensors (BatchNorm's num_batches_tracked) as shape [1]
        if tuple(arr.shape) != tuple(tensor.shape) and not (tensor.dim() == 0 and arr.size == 1):
            raise MistNetWireError(f"{name}: shape {list(arr.shape)} but the model has {list(tensor.shape)}")
        loaded[name] = torch.from_numpy(np.array(arr).reshape(tuple(tensor.shape)))
    model.load_state_dict(loaded)


# ---- frames -------------------------------------------------------------------------------------------------
def _header(fields: Mapping[str, Any], msg_type: str) -> dict[str, Any]:
    return {**dict(fields), "type": msg_type, "v": PROTOCOL_VERSION}


def encode_features(batches: list[tuple[np.ndarray, np.ndarray]], fields: Mapping[str, Any]) -> bytes:
    """One frame with each local batch's noisy features and targets (``features/0000``, ``targets/0000``...)."""
    arrays: dict[str, np.ndarray] = {}
    for i, (features, targets) in enumerate(batches):
        arrays[f"features/{i:04d}"] = np.asarray(features, np.float32)
        arrays[f"targets/{i:04d}"] = np.asarray(targets)
    return dumps_arrays(arrays, _header({**fields, "batches": len(batches)}, FEATURES_TYPE))


def _decode(data: bytes, max_bytes: int | None, msg_type: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    try:
        arrays, meta = loads_arrays(data, max_bytes=max_bytes)
    except TensorFormatError as exc:
        raise MistNetWireError(f"binary frame rejected: {exc}") from None
    if not isinstance(meta, dict) or meta.get("type") != msg_type:
        raise MistNetWireError(f"expected a {msg_type} frame, got {meta.get('type') if isinstance(meta, dict) else meta!r}")
    if meta.get("v") != PROTOCOL_VERSION:
        raise MistNetWireError(f"{msg_type} protocol version {meta.get('v')!r}; this peer speaks {PROTOCOL_VERSION}")
    return arrays, meta


def decode_features(data: bytes, max_bytes: int | None = None
                    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Batches of (features, targets) from a ``mistnet_features`` frame; only those tensors are allowed."""
    arrays, meta = _decode(data, max_bytes, FEATURES_TYPE)
    try:
        count = int(meta.get("batches"))
    except (TypeError, ValueError):
        raise MistNetWireError("mistnet_features header needs an integer 'batches'") from None
    expected = {f"{kind}/{i:04d}" for i in range(count) for kind in ("features", "targets")}
    if set(arrays) != expected:
        raise MistNetWireError(f"mistnet_features carries unexpected tensors {sorted(set(arrays) - expected)[:5]} "
                               f"or misses {sorted(expected - set(arrays))[:5]}")
    batches = [(arrays[f"features/{i:04d}"], arrays[f"targets/{i:04d}"]) for i in range(count)]
    for i, (features, targets) in enumerate(batches):
        if features.dtype != np.float32 or features.ndim < 1 or not np.all(np.isfinite(features)):
            raise MistNetWireError(f"batch {i}: features must be finite float32 arrays")
    return batches, meta


def encode_model(arrays: Mapping[str, np.ndarray], fields: Mapping[str, Any]) -> bytes:
    return dumps_arrays(dict(arrays), _header(fields, MODEL_TYPE))


def decode_model(data: bytes, max_bytes: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    return _decode(data, max_bytes, MODEL_TYPE)
