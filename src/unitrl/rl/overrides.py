"""Typed configuration for flat dataclasses: ``key=value`` overrides and config-file mappings.

Every trainer config (``ActorCriticConfig``, ``GRPOConfig``, ``LoraSettings`` ...) is a flat dataclass; these
helpers turn command-line strings and JSON/YAML values into its field types and reject unknown keys with a
one-line error that suggests the closest key.  No torch here: settings are checked in milliseconds.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from typing import Any, Self

from unitrl.errors import UnitrlError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}


def field_types(cls: type) -> dict[str, Any]:
    """Field name -> resolved type annotation of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def unknown_key_message(key: str, names: Iterable[str], what: str = "config key") -> str:
    names = list(names)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {what} {key!r}; {hint}known keys: {', '.join(names)}"


def split_override(item: str) -> tuple[str, str]:
    """``"k=8"`` -> ``("k", "8")``; anything without ``=`` is a one-line error."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UnitrlError(f"config override {item!r} must look like key=value (e.g. k=8)")
    return key, raw.strip()


def parse_overrides(cls: type, overrides: Iterable[str]) -> dict[str, Any]:
    """``["k=8"]`` -> ``{"k": 8}`` for the dataclass ``cls`` (values typed, keys checked)."""
    known = field_types(cls)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, raw = split_override(item)
        if key not in known:
            raise UnitrlError(unknown_key_message(key, known))
        parsed[key] = coerce(key, raw, known[key])
    return parsed


def config_from_mapping(cls: type, data: Mapping[str, Any], *, prefix: str = "") -> Any:
    """``cls(**data)`` with each value coerced to its field's type; unknown keys are a one-line error.
    ``prefix`` is how the keys are spelled to the user (``lora_``)."""
    known = field_types(cls)
    values = {}
    for key, value in data.items():
        name = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        if name not in known:
            raise UnitrlError(unknown_key_message(key, [prefix + k for k in known]))
        values[name] = coerce(prefix + name, value, known[name])
    return cls(**values)


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """``value`` (a string from the command line, or a JSON value) converted to ``annotation``.

    For a plain ``str`` field a string stays as it is: there ``none`` is a value (``scale_rewards=none``),
    not a missing one."""
    if annotation is str and isinstance(value, str):
        return value
    args = typing.get_args(annotation)
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else annotation
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
        if optional:
            return None
        raise UnitrlError(f"config: {key} cannot be none; expected {base.__name__}")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value) if not isinstance(value, str) else int(value.strip())
        if base is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if base is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
    except ValueError:
        raise UnitrlError(f"config: {key} must be {base.__name__}, got {value!r}") from None
    raise UnitrlError(f"config: field {key} has unsupported type {annotation}")  # pragma: no cover


class ConfigMixin:
    """``to_dict`` / ``from_dict`` / ``with_overrides`` for a flat trainer-config dataclass with a
    ``validate()`` method (every algorithm's config shares them; fields and validation stay per algorithm)."""

    def validate(self) -> None:  # pragma: no cover - each config defines its own checks
        pass

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A validated config from a dict (values may be strings, as from the command line, or JSON values
        from a saved ``config.json``); unknown keys are a one-line error."""
        config = config_from_mapping(cls, data)
        config.validate()
        return config

    def with_overrides(self, overrides: Iterable[str]) -> Self:
        """A copy with ``key=value`` strings applied (parsed to each field's type), validated."""
        data = self.to_dict()
        data.update(parse_overrides(type(self), overrides))
        return type(self).from_dict(data)
