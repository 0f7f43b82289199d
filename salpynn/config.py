"""Experiment configurations: dataclasses with units, validation and ``key=value`` overrides.

A configuration is a frozen dataclass whose fields are declared with :func:`param` (default,
unit, one-line help); nested dataclasses are blocks (e.g. the SAL rule, ``rule``) addressed
with dotted names: ``--set rule.eta=0.005`` on the command line, ``{"rule": {"eta": 0.005}}``
or ``{"rule.eta": 0.005}`` in JSON files and sweeps.  :func:`describe` lists every parameter
with its unit and default, which is how ``salpynn run --help`` is generated.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_type_hints

__all__ = [
    "ConfigError",
    "Parameter",
    "apply_overrides",
    "check_choices",
    "check_range",
    "describe",
    "load_config",
    "param",
    "parameters",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is unknown, malformed or out of range."""


def param(
    default: Any = dataclasses.MISSING,
    unit: str = "",
    help: str = "",
    *,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field carrying its unit and a one-line description (for ``--help``)."""
    metadata = {"unit": unit, "help": help}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


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


def _is_block(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def check_choices(config: Any, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for a field outside its ``Literal`` choices (nested blocks
    included, named with dotted names)."""
    for name, kind in get_type_hints(type(config)).items():
        value = getattr(config, name)
        if typing.get_origin(kind) is Literal and value not in typing.get_args(kind):
            raise ConfigError(
                f"{prefix}{name} must be one of {typing.get_args(kind)}, got {value!r}"
            )
        if _is_block(kind):
            check_choices(value, f"{prefix}{name}.")


def _coerce(name: str, text: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    try:
        if origin in (typing.Union, types.UnionType):
            if type(None) in args and text.strip().lower() in {"none", "null", ""}:
                return None
            (inner,) = [a for a in args if a is not type(None)]
            return _coerce(name, text, inner)
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
            if text not in args:
                raise ValueError(text)
            return text
        if kind is str:
            return text
        return json.loads(text)
    except ValueError as err:
        expected = f"one of {args}" if origin is Literal else getattr(kind, "__name__", kind)
        raise ConfigError(f"{name}: cannot read {text!r} as {expected}") from err


def _nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"rule.eta": 1}`` and ``{"rule": {"eta": 1}}`` both become the nested form."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        head, _, rest = str(key).partition(".")
        if rest:
            block = out.setdefault(head, {})
            if not isinstance(block, dict):
                raise ConfigError(f"{head} is given both as a value and as a block")
            block[rest] = value
        elif isinstance(value, Mapping):
            block = out.setdefault(head, {})
            if not isinstance(block, dict):
                raise ConfigError(f"{head} is given both as a value and as a block")
            block.update(value)
        else:
            if isinstance(out.get(head), dict):
                raise ConfigError(f"{head} is given both as a value and as a block")
            out[head] = value
    return out


def apply_overrides(config: T, overrides: Mapping[str, Any] | Iterable[str], prefix: str = "") -> T:
    """Return a copy of dataclass ``config`` with values replaced.

    ``overrides`` is a mapping (values of any JSON type; nested mappings or dotted keys for
    blocks) or ``key=value`` strings (from ``--set``); strings are converted to the field's
    type.  Unknown keys raise :class:`ConfigError` listing the known ones.
    """
    hints = get_type_hints(type(config))
    if not isinstance(overrides, Mapping):
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} must look like key=value")
            key, text = item.split("=", 1)
            pairs[key.strip()] = text
        overrides = pairs
    changes = {}
    for key, value in _nested(overrides).items():
        if key not in hints:
            known = ", ".join(sorted(prefix + p.name for p in parameters(type(config))))
            raise ConfigError(f"unknown parameter {prefix + key!r}; known: {known}")
        kind = hints[key]
        if _is_block(kind):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{prefix}{key} is a block of parameters; set its entries, e.g. "
                    f"{prefix}{key}.{dataclasses.fields(kind)[0].name}=..."
                )
            changes[key] = apply_overrides(getattr(config, key), value, f"{prefix}{key}.")
        elif isinstance(value, str):
            changes[key] = _coerce(prefix + key, value, kind)
        else:
            changes[key] = value
    return dataclasses.replace(config, **changes)


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls``, updated from a JSON file, then from ``key=value`` overrides."""
    config = cls()
    if path is not None:
        data = json.loads(Path(path).read_text())
        config = apply_overrides(config, data)
    return apply_overrides(config, list(overrides))


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One (possibly nested) configuration parameter, for help texts."""

    name: str  # dotted for blocks: "rule.eta"
    kind: str
    default: Any
    unit: str
    help: str


def _kind_name(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "|".join(str(a) for a in typing.get_args(kind))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind_name(a) for a in typing.get_args(kind))
    if kind is type(None):
        return "none"
    return getattr(kind, "__name__", str(kind))


def parameters(cls: type, prefix: str = "", instance: Any = None) -> Iterator[Parameter]:
    """Every parameter of configuration class ``cls``, blocks expanded with dotted names."""
    instance = cls() if instance is None else instance
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        value = getattr(instance, field.name)
        if _is_block(kind):
            yield from parameters(kind, f"{prefix}{field.name}.", value)
            continue
        yield Parameter(
            name=prefix + field.name,
            kind=_kind_name(kind),
            default=value,
            unit=field.metadata.get("unit", ""),
            help=field.metadata.get("help", ""),
        )


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value if isinstance(value, str) else json.dumps(value)


def describe(cls: type, indent: str = "  ") -> str:
    """A table of every parameter of ``cls``: name, default, unit, meaning (and the choices
    of parameters that take one of a few values)."""
    rows = list(parameters(cls))
    width = max(len(p.name) for p in rows)
    lines = []
    for p in rows:
        default = _show(p.default)
        unit = f" {p.unit}" if p.unit else ""
        choices = f" [{p.kind}]" if "|" in p.kind else ""
        text = f"{indent}{p.name:<{width}}  {default}{unit}"
        lines.append(f"{text:<{width + 24}}  {p.help}{choices}".rstrip())
    return "\n".join(lines)
