"""Prometheus metrics read from PostgreSQL, so every web and worker process reports one truth."""

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from platform_integrity.models import ContentionCounter, OutboxEvent

HOTTEST_ROWS = 100


class IntegrityCollector:
    def collect(self):
        retries = CounterMetricFamily(
            "rivane_conflict_retries",
            "Serialization-failure and deadlock retries, per contended row",
            labels=["table", "row_id"],
        )
        exhausted = CounterMetricFamily(
            "rivane_conflict_retry_exhaustions",
            "Units of work that gave up (503) after the retry bound, per contended row",
            labels=["table", "row_id"],
        )
        for row in ContentionCounter.objects.order_by("-retries")[:HOTTEST_ROWS]:
            retries.add_metric([row.table_name, row.row_id], row.retries)
            exhausted.add_metric([row.table_name, row.row_id], row.exhausted)
        yield retries
        yield exhausted
        counts = OutboxEvent.objects.aggregate(
            pending=Count("id", filter=Q(published_at=None)), total=Count("id")
        )
        backlog = GaugeMetricFamily("rivane_outbox_pending", "Outbox events not yet relayed")
        backlog.add_metric([], counts["pending"])
        yield backlog


def metrics_view(request: HttpRequest) -> HttpResponse:
    registry = CollectorRegistry()
    registry.register(IntegrityCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
