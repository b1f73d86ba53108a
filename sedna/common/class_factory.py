"""Registry of pluggable algorithms, looked up by type and name (e.g. ``ClassType.HEM`` / ``"IBT"``)."""

from __future__ import annotations

import inspect
from typing import Any, Callable

__all__ = ["ClassType", "ClassFactory"]


class ClassType:
    """Algorithm families; string values match upstream so config dicts stay portable."""

    GENERAL = "general"
    HEM = "hard_example_mining"
    FL_AGG = "aggregation"
    MTL = "multi_task_learening"
    UTD = "unseen_task_detect"
    OF = "optical_flow"
    ALGORITHM = "algorithm"
    DATASET = "data_process"
    CALLBACK = "post_process_callback"
    UTP = "unseen_task_processing"
    KM = "knowledge_management"
    STP = "seen_task_processing"


class ClassFactory:
    """Process-wide registry: ``{type_name: {name: class_or_function}}``.

    Re-registering a name replaces the earlier entry, as upstream does.
    """

    __registry__: dict[str, dict[str, Any]] = {}

    @classmethod
    def register(cls, type_name: str = ClassType.GENERAL, alias: str | None = None) -> Callable:
        def wrapper(t_cls):
            cls.register_cls(t_cls, type_name=type_name, alias=alias)
            return t_cls

        return wrapper

    @classmethod
    def register_cls(cls, t_cls: Any, type_name: str = ClassType.GENERAL, alias: str | None = None) -> Any:
        name = alias if alias is not None else t_cls.__name__
        cls.__registry__.setdefault(type_name, {})[name] = t_cls
        return t_cls

    @classmethod
    def register_from_package(cls, package: Any, type_name: str = ClassType.GENERAL) -> None:
        for name, obj in inspect.getmembers(package):
            if name.startswith("_"):
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                cls.register_cls(obj, type_name=type_name)

    @classmethod
    def is_exists(cls, type_name: str, cls_name: str | None = None) -> bool:
        if cls_name is None:
            return type_name in cls.__registry__
        return cls_name in cls.__registry__.get(type_name, {})

    @classmethod
    def get_cls(cls, type_name: str, name: str | None) -> Any:
        if name is None or not cls.is_exists(type_name, name):
            known = sorted(cls.__registry__.get(type_name, {}))
            raise ValueError(f"can't find class type {type_name} class name {name} in class registry "
                             f"(known: {', '.join(known) or 'none'})")
        return cls.__registry__[type_name][name]
