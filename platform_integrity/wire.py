"""A queued call's arguments and its answer as JSON, and back with their types.

A caller waiting for its entity's turn writes its call to `queued_command`; the
leader that runs it writes the answer there (`platform_integrity.batching`). Both
travel as JSON, tagged where JSON has no type of its own: UUIDs, dates, times,
decimals, the dataclasses a command takes (registered with `argument_type`), and
the model rows it returns (as every column, so the caller needs no query). Only
registered dataclasses and installed models are ever rebuilt.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid
from typing import Any

import orjson
from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, models

_TYPES: dict[str, type] = {}


def argument_type(cls: type) -> type:
    """Register a dataclass that commands take as an argument (a class decorator)."""
    _TYPES[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return cls


def dumps(value: Any) -> str:
    return orjson.dumps(_tagged(value), option=orjson.OPT_NON_STR_KEYS).decode()


def loads(data: str | bytes | Any) -> Any:
    """The value `dumps` wrote; `data` may be its text or JSON already decoded."""
    decoded = orjson.loads(data) if isinstance(data, str | bytes) else data
    return _untagged(decoded)


def _tagged(value: Any) -> Any:
    if isinstance(value, dict):
        tagged = {key: _tagged(item) for key, item in value.items()}
        # A key of the caller's own that looks like a tag (a dimension tag, say) is kept.
        return {"$dict": tagged} if any(str(key).startswith("$") for key in value) else tagged
    if isinstance(value, list | tuple):
        return [_tagged(item) for item in value]
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, models.Model):
        # Every column as JSON reads it back; each field turns its own back (`_row`).
        fields = value._meta.concrete_fields
        return {
            "$model": value._meta.label,
            "row": orjson.loads(
                orjson.dumps({f.attname: getattr(value, f.attname) for f in fields}, default=str)
            ),
            "replayed": getattr(value, "replayed", False),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        name = f"{kind.__module__}.{kind.__qualname__}"
        if _TYPES.get(name) is not kind:
            raise TypeError(f"{name} is not a registered argument type")
        return {"$type": name, "fields": _tagged(dataclasses.asdict(value))}
    return value


def _untagged(value: Any) -> Any:
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$dict" in value:
        return {key: _untagged(item) for key, item in value["$dict"].items()}
    if "$uuid" in value:
        return uuid.UUID(value["$uuid"])
    if "$datetime" in value:
        return datetime.datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return datetime.date.fromisoformat(value["$date"])
    if "$decimal" in value:
        return decimal.Decimal(value["$decimal"])
    if "$model" in value:
        return _row(apps.get_model(value["$model"]), value)
    if "$type" in value:
        return _TYPES[value["$type"]](**_untagged(value["fields"]))
    return {key: _untagged(item) for key, item in value.items()}


def _row(model: type[models.Model], value: dict[str, Any]) -> models.Model:
    """The instance as if read from the database."""
    fields = model._meta.concrete_fields
    row = value["row"]
    instance = model.from_db(
        DEFAULT_DB_ALIAS,
        [f.attname for f in fields],
        [None if (v := row[f.attname]) is None else f.to_python(v) for f in fields],
    )
    instance.replayed = value["replayed"]
    return instance
