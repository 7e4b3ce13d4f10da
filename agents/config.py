"""Hyperparameter dataclasses from dictionaries (JSON files, ``--set key=value``), with checks.

An unknown key or a value of the wrong type is a one-line ``ValueError`` naming the key, the
expected type and the accepted keys: ``learning_starts = 5e3`` is rejected, not truncated.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                as_float = float(value.replace("_", ""))
                if as_float.is_integer():
                    return int(as_float)
            except ValueError:
                pass
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin in (list, tuple):
        (item_type,) = set(typing.get_args(annotation)) - {Ellipsis} or {Any}
        if isinstance(value, str):
            value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            items = [_coerce(name, v.strip() if isinstance(v, str) else v, item_type) for v in value]
            return items if origin is list else tuple(items)
    elif origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        for option in typing.get_args(annotation):
            if option is type(None):
                if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
                    return None
                continue
            try:
                return _coerce(name, value, option)
            except ValueError:
                continue
    elif annotation is Any:
        return value
    raise ValueError(f"config key {name!r} expects {getattr(annotation, '__name__', annotation)}, got {value!r}")


def config_from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build the dataclass ``cls`` from ``values``, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} for {cls.__name__}; accepted: {sorted(fields)}")
    kwargs = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    config = cls(**kwargs)
    check = getattr(config, "validate", None)
    if check is not None:
        check()
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
