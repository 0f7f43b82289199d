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
import os
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_type_hints

__all__ = [
    "ConfigError",
    "CorruptFileError",
    "Parameter",
    "apply_overrides",
    "check_choices",
    "check_grid",
    "check_range",
    "check_timing",
    "describe",
    "load_config",
    "param",
    "parameters",
    "parse_sizes",
    "read_json_object",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is unknown, malformed or out of range."""


class CorruptFileError(ConfigError):
    """A file salpynn wrote or reads is missing, truncated or not what it should be."""


def read_json_object(path: str | os.PathLike, what: str, remedy: str = "") -> dict[str, Any]:
    """A JSON file that must hold an object; missing, empty, malformed or non-object files
    raise :class:`CorruptFileError` naming ``what`` and the file."""
    path = Path(path)
    hint = f"; {remedy}" if remedy else ""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CorruptFileError(f"{what} {path} does not exist{hint}") from None
    except IsADirectoryError:
        raise CorruptFileError(f"{what} {path} is a folder, not a file{hint}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{what} {path} cannot be read ({err}){hint}") from None
    if not text.strip():
        raise CorruptFileError(f"{what} {path} is empty{hint}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptFileError(
            f"{what} {path} is not valid JSON (line {err.lineno}, column {err.colno}: "
            f"{err.msg}){hint}"
        ) from None
    if not isinstance(data, dict):
        raise CorruptFileError(
            f"{what} {path} must hold a JSON object ({{...}}), not a {type(data).__name__}{hint}"
        )
    return data


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


def check_grid(name: str, value: float, resolution: float) -> None:
    """Raise :class:`ConfigError` unless ``value`` (ms) is a whole number of time steps:
    simulators would round it silently while the run records the value asked for."""
    steps = value / resolution
    if abs(steps - round(steps)) > 1e-9 * max(1.0, abs(steps)):
        raise ConfigError(
            f"{name} must be a whole number of time steps (a multiple of resolution "
            f"{resolution} ms), got {value}; nearest: {round(steps) * resolution:g}"
        )


def check_timing(resolution: float, tau_ref: float, delay: float, delay_max: float = 100.0) -> None:
    """The time step, refractory time and delay of an experiment of sampling neurons: a
    resolution in ``(0, 1]`` ms, ``tau_ref`` of at least two steps (a PSP one step shorter
    must remain), ``delay`` of at least one step, both whole numbers of steps."""
    check_range("resolution", resolution, 0.0, 1.0, low_open=True)
    check_range("tau_ref", tau_ref, 2 * resolution, 1000.0)
    check_range("delay", delay, resolution, delay_max)
    check_grid("tau_ref", tau_ref, resolution)
    check_grid("delay", delay, resolution)


def _is_block(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def parse_sizes(name: str, value: str) -> tuple[int, ...]:
    """Layer sizes from comma-separated whole numbers (``"64,384,10"``); :class:`ConfigError`
    naming the field otherwise."""
    try:
        return tuple(int(x) for x in str(value).replace(" ", "").split(","))
    except ValueError as err:
        raise ConfigError(f"{name} must be comma-separated whole numbers, got {value!r}") from err


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
            try:
                return int(text)
            except ValueError:
                return _integral(name, float(text))
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


def _integral(name: str, value: float) -> int:
    if not math.isfinite(value) or value != int(value):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _typed(name: str, value: Any, kind: Any) -> Any:
    """A JSON value (from a file or a sweep) checked against the field's type: whole numbers
    for integer fields (``2.0`` becomes ``2``, ``2.5`` is refused), numbers for float fields,
    ``true``/``false`` for flags, a listed word for choices."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _typed(name, value, inner[0])
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        if not number:
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
        return _integral(name, value)
    if kind is float:
        if not number:
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if origin is Literal and value not in args:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, args))}, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


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
            changes[key] = _typed(prefix + key, value, kind)
    return dataclasses.replace(config, **changes)


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls``, updated from a JSON file, then from ``key=value`` overrides."""
    config = cls()
    if path is not None:
        data = read_json_object(path, "--config file", "give a JSON object of parameters")
        try:
            config = apply_overrides(config, data)
        except ConfigError as err:
            raise ConfigError(f"--config file {path}: {err}") from None
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
