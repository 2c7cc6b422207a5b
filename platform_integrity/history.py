"""django-simple-history: every historical row also records the request's IP address."""

from django.db import models
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record


class IPAddressHistoricalModel(models.Model):
    history_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        abstract = True


def history(**kwargs) -> HistoricalRecords:
    return HistoricalRecords(bases=[IPAddressHistoricalModel], **kwargs)


def _record_ip(sender, **kwargs) -> None:
    request = getattr(HistoricalRecords.context, "request", None)
    if request is not None:
        kwargs["history_instance"].history_ip = request.META.get("REMOTE_ADDR")


def connect_ip_recording() -> None:
    pre_create_historical_record.connect(_record_ip, dispatch_uid="rivane_history_ip")
