"""Experiment configurations: dataclasses with validation and ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_type_hints

__all__ = ["ConfigError", "apply_overrides", "check_choices", "check_range", "load_config"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is unknown, malformed or out of range."""


def check_range(
    name: str,
    value: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`ConfigError` naming ``name`` unless ``value`` lies in the interval."""
    ok = isinstance(value, (int, float)) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ConfigError(f"{name} must lie in {left}{low}, {high}{right}, got {value!r}")


def check_choices(config: Any) -> None:
    """Raise :class:`ConfigError` for a dataclass field outside its ``Literal`` choices."""
    for name, kind in get_type_hints(type(config)).items():
        if getattr(kind, "__origin__", None) is Literal:
            value = getattr(config, name)
            if value not in kind.__args__:
                raise ConfigError(f"{name} must be one of {kind.__args__}, got {value!r}")


def _coerce(name: str, text: str, kind: Any) -> Any:
    origin = getattr(kind, "__origin__", None)
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if origin is Literal:
            if text not in kind.__args__:
                raise ValueError(text)
            return text
        if kind is str or (origin is not None and str in getattr(kind, "__args__", ())):
            return text
        return json.loads(text)
    except ValueError as err:
        expected = (
            f"one of {kind.__args__}" if origin is Literal else getattr(kind, "__name__", kind)
        )
        raise ConfigError(f"{name}: cannot read {text!r} as {expected}") from err


def apply_overrides(config: T, overrides: Mapping[str, Any] | Iterable[str]) -> T:
    """Return a copy of dataclass ``config`` with values replaced.

    ``overrides`` is a mapping or ``key=value`` strings (from ``--set``); strings are converted
    to the field's type.  Unknown keys raise :class:`ConfigError` listing the known ones.
    """
    hints = get_type_hints(type(config))
    names = {f.name for f in dataclasses.fields(config)}
    if not isinstance(overrides, Mapping):
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} must look like key=value")
            key, text = item.split("=", 1)
            pairs[key.strip()] = text
        overrides = pairs
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(f"unknown parameter {key!r}; known: {', '.join(sorted(names))}")
        changes[key] = _coerce(key, value, hints[key]) if isinstance(value, str) else value
    return dataclasses.replace(config, **changes)


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls``, updated from a JSON file, then from ``key=value`` overrides."""
    config = cls()
    if path is not None:
        data = json.loads(Path(path).read_text())
        config = apply_overrides(config, data)
    return apply_overrides(config, list(overrides))
