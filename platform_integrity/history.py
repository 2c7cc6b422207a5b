"""django-simple-history: every historical row also records the request's IP address."""

import functools

from django.db import models
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record


class IPAddressHistoricalModel(models.Model):
    history_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        abstract = True


class CachedHistoryManager(HistoryManager):
    """simple-history builds its manager class anew on every `instance.history` access
    (Django's `from_queryset` walks the queryset class with `inspect.getmembers`), and
    it does so for every historical row it writes: about a third of a payment's time.
    The class depends only on the queryset class, so it is built once."""

    @classmethod
    @functools.cache
    def from_queryset(cls, queryset_class, class_name=None):
        return super().from_queryset(queryset_class, class_name)


def history(**kwargs) -> HistoricalRecords:
    return HistoricalRecords(
        bases=[IPAddressHistoricalModel], history_manager=CachedHistoryManager, **kwargs
    )


def _record_ip(sender, **kwargs) -> None:
    request = getattr(HistoricalRecords.context, "request", None)
    if request is not None:
        kwargs["history_instance"].history_ip = request.META.get("REMOTE_ADDR")


def connect_ip_recording() -> None:
    pre_create_historical_record.connect(_record_ip, dispatch_uid="rivane_history_ip")
