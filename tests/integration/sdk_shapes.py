"""Payload shapes against the official Binance SDK's models: every key a model declares must be present.

The SDK's models make every field optional and, when a value has the wrong type, relax the model and only log
a warning; so a payload that lacks a field or has a wrong type would still "parse". `missing_keys` walks the
model tree and names each declared key the payload lacks; `TypeWarnings` catches the SDK's type warnings.
"""

from __future__ import annotations

import logging
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models named anywhere in a field's annotation (Optional, List, Annotated, Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _is_oneof(model: type[BaseModel]) -> bool:
    return bool(getattr(model, "is_oneof_model", lambda: False)())


def _is_array(model: type[BaseModel]) -> bool:
    return bool(getattr(model, "is_array", lambda: False)())


def _variants(model: type[BaseModel]) -> list[type[BaseModel]]:
    return [
        m
        for name, f in model.model_fields.items()
        if name.startswith("oneof_schema")
        for m in _models_in(f.annotation)
    ]


def _excused(path: str, allowed: frozenset[str]) -> bool:
    """`allowed` holds key paths without list indices, matched at the end: "cumBase", "filters.*"."""
    bare = re.sub(r"\[\d+\]", "", path)
    return any(bare.endswith("." + a) or (a.endswith(".*") and f".{a[:-2]}." in bare) for a in allowed)


def missing_keys(
    payload: Any, model: type[BaseModel], path: str = "$", allowed: frozenset[str] = frozenset()
) -> list[str]:
    """Declared keys absent from `payload`, as paths like `$[0].brackets[0].cum`, except those `allowed`."""
    if _is_oneof(model):
        wanted_list = isinstance(payload, list)
        variants = [m for m in _variants(model) if _is_array(m) == wanted_list] or _variants(model)
        return min((missing_keys(payload, m, path, allowed) for m in variants), key=len)
    if _is_array(model):
        if not isinstance(payload, list):
            return [f"{path} is not a list"]
        inner = model.__bases__[0]
        return [
            gap
            for i, item in enumerate(payload)
            for gap in missing_keys(item, inner, f"{path}[{i}]", allowed)
        ]
    if not isinstance(payload, dict):
        return [f"{path} is not an object"]
    gaps: list[str] = []
    for name, field in model.model_fields.items():
        if name == "additional_properties":
            continue
        key = field.alias or name
        if key not in payload:
            if not _excused(f"{path}.{key}", allowed):
                gaps.append(f"{path}.{key}")
            continue
        value = payload[key]
        for nested in _models_in(field.annotation):
            items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
            for i, item in enumerate(items):
                gaps += missing_keys(item, nested, f"{path}.{key}[{i}]", allowed)
    return gaps


class TypeWarnings(logging.Handler):
    """Collects the warnings binance_common logs when a payload does not match a model's declared types."""

    MARKERS = (
        "did not match the declared types",
        "Failed to parse",
        "Error in callback",
        "Unknown user data event",
        "WebSocket failed to connect",
        "Error received from server",
    )

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(marker in message for marker in self.MARKERS):
            self.messages.append(message)

    def __enter__(self) -> TypeWarnings:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


def unset_fields(instance: BaseModel, path: str = "$", allowed: frozenset[str] = frozenset()) -> list[str]:
    """Declared keys a parsed model did not receive (for models built by model_validate, which records
    the keys given in `model_fields_set`), except those `allowed`."""
    gaps: list[str] = []
    for name, field in type(instance).model_fields.items():
        if name == "additional_properties":
            continue
        key = f"{path}.{field.alias or name}"
        if name not in instance.model_fields_set:
            if not _excused(key, allowed):
                gaps.append(key)
            continue
        value = getattr(instance, name)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, BaseModel):
                gaps += unset_fields(item, f"{key}[{i}]", allowed)
    return gaps


def strict_errors(payload: Any, model: type[BaseModel]) -> str | None:
    """The model's strict validation error for `payload` (each item of a list), or None."""
    try:
        for item in payload if isinstance(payload, list) else [payload]:
            model.model_validate(item)
    except ValidationError as exc:
        return str(exc)
    return None
