"""A command's change, said once: the row it writes (with its history) and its audit row.

    record.created(bill, actor, payload={...})          # a new row, ACCEPTED in the audit
    record.changed(entry, ["status"], actor, payload={...})

The audit row names the row by its table and id, under the command's name unless
`action` says otherwise (a payment posted within its submission, say).
"""

from typing import Any

from django.db import models

from platform_integrity import audit
from platform_integrity.context import Actor
from platform_integrity.unit import current


def created(
    obj: models.Model, actor: Actor, *, payload: dict[str, Any], action: str | None = None
) -> models.Model:
    current().changes.add(obj, actor)
    return _audited(obj, action, payload)


def changed(
    obj: models.Model,
    fields: list[str],
    actor: Actor,
    *,
    payload: dict[str, Any],
    action: str | None = None,
    reason_code: str = "",
) -> models.Model:
    current().changes.change(obj, fields, actor)
    return _audited(obj, action, payload, reason_code)


def _audited(
    obj: models.Model, action: str | None, payload: dict[str, Any], reason_code: str = ""
) -> models.Model:
    audit.record(
        action=action or current().name,
        object_type=obj._meta.db_table,
        object_id=str(obj.pk),
        reason_code=reason_code,
        payload=payload,
    )
    return obj
