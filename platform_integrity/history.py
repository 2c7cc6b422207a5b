"""django-simple-history: every historical row also records the request's IP address."""

import functools
from typing import Any

from django.db import models
from django.utils import timezone
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

from platform_integrity import bulk


class IPAddressHistoricalModel(models.Model):
    history_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        abstract = True


class CachedHistoryManager(HistoryManager):
    """simple-history builds its manager class anew on every `instance.history` access
    (Django's `from_queryset` walks the queryset class with `inspect.getmembers`); the
    class depends only on the queryset class, so it is built once."""

    @classmethod
    @functools.cache
    def from_queryset(cls, queryset_class, class_name=None):
        return super().from_queryset(queryset_class, class_name)


class ObjectIndexedHistoricalRecords(HistoricalRecords):
    """A historical table indexes the object's id and nothing else it copies.

    It is read one object's history at a time; the copied foreign keys keep no
    index, since every index is one more write per historical row of every
    money write, for no query.
    """

    def copy_fields(self, model):
        fields = super().copy_fields(model)
        for name, field in fields.items():
            if name != model._meta.pk.name:
                field.db_index = False
        return fields


def history(**kwargs) -> HistoricalRecords:
    return ObjectIndexedHistoricalRecords(
        bases=[IPAddressHistoricalModel], history_manager=CachedHistoryManager, **kwargs
    )


def _record_ip(sender, **kwargs) -> None:
    request = getattr(HistoricalRecords.context, "request", None)
    if request is not None:
        kwargs["history_instance"].history_ip = request.META.get("REMOTE_ADDR")


def connect_ip_recording() -> None:
    pre_create_historical_record.connect(_record_ip, dispatch_uid="rivane_history_ip")


@functools.cache
def historical_model(model: type[models.Model]) -> type[models.Model]:
    """`model.history.model`, without the manager that every `.history` access builds."""
    return model.history.model


def row(instance: models.Model, actor, *, update: bool) -> dict[str, Any]:
    """The historical row of `instance` as it is now, for `write` to insert later."""
    historical = historical_model(type(instance))
    return {
        **{field.attname: getattr(instance, field.attname) for field in historical.tracked_fields},
        "history_date": timezone.now(),
        "history_user_id": actor.user.pk if actor.user is not None else None,
        "history_change_reason": "",
        "history_type": "~" if update else "+",
        "history_ip": actor.ip,
    }


def write(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """Insert the historical rows of rows written in bulk (bulk writes send no save signals):
    what simple-history's `bulk_history_create` builds, as plain values, in one statement."""
    bulk.insert_values(historical_model(model), rows)
