"""The journal-entry API: create, list, read, edit, and each step of an entry's life."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from ledger import commands, selectors
from ledger.api.serializers import (
    JournalEntryOutput,
    journal_entry_body,
    parse_lines,
)

# What a finance team writes in an entry's memo or a reason, with room to spare.
from ledger.api.views import MEMO_MAX, REASON_MAX, api_actor
from ledger.models import JournalEntry
from platform_integrity import idempotency
from platform_integrity.web.filters import PageSerializer, query
from platform_integrity.web.schema import list_schema
from platform_integrity.web.views import Api, body


class JournalEntryListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField()
        period_id = serializers.UUIDField()
        posting_date = serializers.DateField()
        memo = serializers.CharField(
            max_length=MEMO_MAX, allow_blank=True, required=False, default=""
        )
        external_id = serializers.CharField(
            max_length=255, required=False, allow_null=True, allow_blank=True
        )
        lines = serializers.JSONField()
        submit = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Submit it in the same transaction: it posts, or waits for approval "
            "above the entity's threshold.",
        )

    class FilterSerializer(PageSerializer):
        entity_id = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=JournalEntry.Status.choices, required=False)

    read_permission = "ledger.view_journalentry"
    write_permission = "ledger.prepare_journalentry"

    @list_schema("JournalEntryList", JournalEntryOutput, FilterSerializer)
    def get(self, request):
        filters = query(self.FilterSerializer, request)
        limit, offset = filters.pop("limit"), filters.pop("offset")
        entries = selectors.journal_entry_list(**filters)[offset : offset + limit]
        return Response({"results": JournalEntryOutput(entries, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: JournalEntryOutput})
    def post(self, request):
        values = body(self.InputSerializer, request)
        values["lines"] = parse_lines(values["lines"])
        values["external_id"] = idempotency.request_key(request.headers, values.get("external_id"))
        entry = commands.journal_entry_create(api_actor(request), **values)
        return Response(
            journal_entry_body(entry),
            status=status.HTTP_201_CREATED,
            headers=idempotency.replay_headers(entry),
        )


class JournalEntryDetailApi(Api):
    class InputSerializer(serializers.Serializer):
        memo = serializers.CharField(max_length=MEMO_MAX, allow_blank=True, required=False)
        posting_date = serializers.DateField(required=False)
        lines = serializers.JSONField(required=False)

    read_permission = "ledger.view_journalentry"
    write_permission = "ledger.prepare_journalentry"

    @extend_schema(responses={200: JournalEntryOutput})
    def get(self, request, entry_id):
        return Response(journal_entry_body(get_object_or_404(JournalEntry, pk=entry_id)))

    @extend_schema(request=InputSerializer, responses={200: JournalEntryOutput})
    def patch(self, request, entry_id):
        get_object_or_404(JournalEntry, pk=entry_id)
        values = body(self.InputSerializer, request)
        if "lines" in values:
            values["lines"] = parse_lines(values["lines"])
        entry = commands.journal_entry_update(api_actor(request), entry_id=entry_id, **values)
        return Response(journal_entry_body(entry))


class JournalEntryActionApi(Api):
    """POST /journal-entries/{id}/<action>: validate, call the command, return the entry."""

    command = None
    read_permission = write_permission = "ledger.prepare_journalentry"
    InputSerializer: type[serializers.Serializer] | None = None

    def post(self, request, entry_id):
        get_object_or_404(JournalEntry, pk=entry_id)
        values = body(self.InputSerializer, request) if self.InputSerializer else {}
        entry = type(self).command(api_actor(request), entry_id=entry_id, **values)
        return Response(self.respond(entry))

    def respond(self, entry: JournalEntry):
        return journal_entry_body(entry, with_lines=False)


ENTRY_ACTION = {200: JournalEntryOutput}


@extend_schema_view(post=extend_schema(request=None, responses=ENTRY_ACTION))
class JournalEntrySubmitApi(JournalEntryActionApi):
    command = commands.journal_entry_submit


@extend_schema_view(post=extend_schema(request=None, responses=ENTRY_ACTION))
class JournalEntryApproveApi(JournalEntryActionApi):
    command = commands.journal_entry_approve
    read_permission = write_permission = "ledger.approve_journalentry"


class JournalEntryRejectApi(JournalEntryActionApi):
    command = commands.journal_entry_reject
    read_permission = write_permission = "ledger.approve_journalentry"

    class InputSerializer(serializers.Serializer):
        reason_code = serializers.CharField(max_length=64)
        reason = serializers.CharField(max_length=REASON_MAX)


class JournalEntryVoidApi(JournalEntryActionApi):
    command = commands.journal_entry_void

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=REASON_MAX, required=False, default="")


class JournalEntryReverseApi(JournalEntryActionApi):
    command = commands.journal_entry_reverse

    class InputSerializer(serializers.Serializer):
        posting_date = serializers.DateField()
        period_id = serializers.UUIDField()
        memo = serializers.CharField(
            max_length=MEMO_MAX, required=False, allow_blank=True, default=""
        )

    def post(self, request, entry_id):
        response = super().post(request, entry_id)
        response.status_code = status.HTTP_201_CREATED
        return response


for _view, _status in (
    (JournalEntryRejectApi, 200),
    (JournalEntryVoidApi, 200),
    (JournalEntryReverseApi, 201),
):
    extend_schema_view(
        post=extend_schema(request=_view.InputSerializer, responses={_status: JournalEntryOutput})
    )(_view)
