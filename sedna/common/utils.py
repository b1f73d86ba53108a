"""Small process helpers used across the SDK."""

from __future__ import annotations

import functools
import inspect
import os
import socket
import threading
from typing import Any, TypeVar

__all__ = ["get_host_ip", "singleton"]

T = TypeVar("T", bound=type)

_PROBE_ADDRESS = ("8.8.8.8", 80)


def get_host_ip() -> str:
    """The address other pods should use to reach this process.

    ``POD_IP`` wins when set: the single-machine runtime gives each pod its own 127.x address, and on
    Kubernetes the downward API provides it. Otherwise the address of the interface that routes to the
    internet is found by "connecting" a UDP socket (no packet is sent); ``127.0.0.1`` when there is none.
    """
    pod_ip = os.environ.get("POD_IP", "").strip()
    if pod_ip:
        return pod_ip
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(_PROBE_ADDRESS)
        return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        sock.close()


def singleton(cls: T) -> T:
    """Make every ``cls(...)`` call return one shared instance, initialised once.

    Unlike upstream (which replaces the class by a factory function) the class stays a class, so
    ``isinstance`` checks and class methods keep working. Each subclass gets its own instance.
    """
    instances: dict[type, Any] = {}
    lock = threading.RLock()
    original_new = cls.__new__
    original_init = cls.__init__

    def __new__(klass, *args, **kwargs):
        with lock:
            if klass not in instances:
                if original_new is object.__new__:
                    instances[klass] = original_new(klass)
                else:
                    instances[klass] = original_new(klass, *args, **kwargs)
            return instances[klass]

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        with lock:
            if self.__dict__.get("_singleton_initialised"):
                return
            original_init(self, *args, **kwargs)
            self.__dict__["_singleton_initialised"] = True

    cls.__new__ = __new__  # type: ignore[method-assign]
    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def accepted_kwargs(func: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """All ``kwargs`` if ``func`` takes ``**kwargs`` (or cannot be inspected); otherwise only the ones it names."""
    if not callable(func):
        return kwargs
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}
