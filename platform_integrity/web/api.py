"""Platform endpoints: audit events, the event feed, contention."""

from django.db.models import F
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from platform_integrity import outbox
from platform_integrity.models import AuditEvent, ContentionCounter, OutboxEvent
from platform_integrity.web.filters import MAX_PAGE, query
from platform_integrity.web.schema import object_schema
from platform_integrity.web.views import Api

EVENT_FEED_FIELDS = {
    "events": inline_serializer(
        "Event",
        {
            "id": serializers.CharField(),
            "position": serializers.IntegerField(),
            "type": serializers.CharField(),
            "occurred_at": serializers.DateTimeField(),
            "entity_id": serializers.CharField(allow_null=True),
            "payload": serializers.JSONField(),
        },
        many=True,
    ),
    "next_cursor": serializers.CharField(),
}

CONTENTION_FIELDS = {
    "rows": inline_serializer(
        "ContendedRow",
        {
            "table": serializers.CharField(),
            "row_id": serializers.CharField(),
            "conflict_retries": serializers.IntegerField(),
            "retry_exhaustions": serializers.IntegerField(),
            "last_seen_at": serializers.DateTimeField(),
        },
        many=True,
    )
}


class LimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=100)


class AuditEventListApi(Api):
    read_permission = write_permission = "platform_integrity.view_auditevent"

    class FilterSerializer(LimitSerializer):
        object_type = serializers.CharField(required=False)
        object_id = serializers.CharField(required=False)
        outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.choices, required=False)
        action = serializers.CharField(required=False)
        after = serializers.IntegerField(required=False, min_value=0)

    class OutputSerializer(serializers.ModelSerializer):
        id = serializers.CharField()

        class Meta:
            model = AuditEvent
            fields = [
                "id",
                "occurred_at",
                "actor",
                "channel",
                "ip",
                "action",
                "object_type",
                "object_id",
                "outcome",
                "reason_code",
                "payload",
                "prev_hash",
                "hash",
            ]

    @object_schema(
        "AuditEventPage",
        {
            "results": OutputSerializer(many=True),
            "next_cursor": serializers.CharField(allow_null=True),
        },
        FilterSerializer,
    )
    def get(self, request):
        params = query(self.FilterSerializer, request)
        limit = params.pop("limit")
        after = params.pop("after", None)
        rows = AuditEvent.objects.filter(**params).order_by("id")
        if after is not None:
            rows = rows.filter(id__gt=after)
        page = list(rows[:limit])
        return Response(
            {
                "results": self.OutputSerializer(page, many=True).data,
                "next_cursor": str(page[-1].id) if page else None,
            }
        )


class EventFeedApi(Api):
    """Committed events in the order they became visible, Redis or not; `after` is the
    `next_cursor` of the previous page."""

    read_permission = write_permission = "platform_integrity.view_outboxevent"

    class FilterSerializer(LimitSerializer):
        after = serializers.IntegerField(required=False, min_value=0, default=0)

    @object_schema("EventFeed", EVENT_FEED_FIELDS, FilterSerializer)
    def get(self, request):
        filters = query(self.FilterSerializer, request)
        after = filters["after"]
        outbox.assign_positions()
        page = list(
            OutboxEvent.objects.filter(position__gt=after).order_by("position")[: filters["limit"]]
        )
        return Response(
            {
                "events": [
                    {
                        "id": str(e.event_id),
                        "position": e.position,
                        "type": e.event_type,
                        "occurred_at": e.occurred_at,
                        "entity_id": e.entity_id,
                        "payload": e.payload,
                    }
                    for e in page
                ],
                "next_cursor": str(page[-1].position if page else after),
            }
        )


class ContentionApi(Api):
    read_permission = write_permission = "platform_integrity.view_contentioncounter"

    @object_schema("Contention", CONTENTION_FIELDS, LimitSerializer)
    def get(self, request):
        filters = query(LimitSerializer, request)
        rows = ContentionCounter.objects.order_by(F("retries").desc(), "table_name", "row_id")
        return Response(
            {
                "rows": [
                    {
                        "table": r.table_name,
                        "row_id": r.row_id,
                        "conflict_retries": r.retries,
                        "retry_exhaustions": r.exhausted,
                        "last_seen_at": r.last_seen_at,
                    }
                    for r in rows[: filters["limit"]]
                ]
            }
        )
