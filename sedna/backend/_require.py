"""Lazy imports of heavy ML stacks with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINTS = {
    "torch": "pip install 'sedna[torch]'",
    "tensorflow": "pip install 'sedna[tf]'",
    "mindspore": "pip install mindspore (see mindspore.cn for the build matching your device)",
}


class BackendNotInstalledError(ImportError):
    """The backend chosen by ``BACKEND_TYPE`` needs a framework that is not installed."""


def require(module: str, backend_type: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(module.split(".")[0], f"pip install {module}")
        raise BackendNotInstalledError(
            f"BACKEND_TYPE={backend_type} needs the '{module}' package, which cannot be imported ({exc}); "
            f"install it with: {hint}") from None
