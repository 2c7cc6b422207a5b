"""Ledger API: one view per operation; each translates HTTP and calls one command."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger import commands, selectors
from ledger.api.serializers import (
    BALANCE_FIELDS,
    TRIAL_BALANCE_FIELDS,
    AccountOutput,
    EntityOutput,
    FxRateOutput,
    JournalEntryOutput,
    PeriodOutput,
    journal_entry_body,
    parse_lines,
)
from ledger.models import Account, Entity, FxRate, JournalEntry, Period
from ledger.money import MAX_MINOR
from platform_integrity import idempotency
from platform_integrity.context import Actor
from platform_integrity.web.auth import has_perm
from platform_integrity.web.filters import PageSerializer, query
from platform_integrity.web.schema import list_schema, object_schema

# What a finance team writes in an entry's memo or a reason, with room to spare.
MEMO_MAX = 1000
REASON_MAX = 1000

MANAGE = has_perm("ledger.manage_entity")


def api_actor(request) -> Actor:
    return Actor.from_request(request, "API")


class EntityListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        functional_currency = serializers.CharField(min_length=3, max_length=3)
        approval_threshold_minor = serializers.IntegerField(
            min_value=0, max_value=MAX_MINOR, default=0
        )

    def get_permissions(self):
        perm = "ledger.manage_entity" if self.request.method == "POST" else "ledger.view_entity"
        return [has_perm(perm)()]

    @list_schema("EntityList", EntityOutput)
    def get(self, request):
        return Response({"results": EntityOutput(Entity.objects.order_by("name"), many=True).data})

    @extend_schema(request=InputSerializer, responses={201: EntityOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["functional_currency"] = values["functional_currency"].upper()
        entity = commands.entity_create(api_actor(request), **values)
        return Response(EntityOutput(entity).data, status=status.HTTP_201_CREATED)


class EntityDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        approval_threshold_minor = serializers.IntegerField(
            min_value=0, max_value=MAX_MINOR, required=False
        )
        ap_control_account_id = serializers.UUIDField(required=False)
        bank_account_id = serializers.UUIDField(required=False)
        fx_gain_loss_account_id = serializers.UUIDField(required=False)

    def get_permissions(self):
        perm = "ledger.manage_entity" if self.request.method == "PATCH" else "ledger.view_entity"
        return [has_perm(perm)()]

    @extend_schema(responses={200: EntityOutput})
    def get(self, request, entity_id):
        return Response(EntityOutput(get_object_or_404(Entity, pk=entity_id)).data)

    @extend_schema(request=InputSerializer, responses={200: EntityOutput})
    def patch(self, request, entity_id):
        get_object_or_404(Entity, pk=entity_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entity = commands.entity_update(
            api_actor(request), entity_id=entity_id, **data.validated_data
        )
        return Response(EntityOutput(entity).data)


class TrialBalanceApi(APIView):
    permission_classes = [has_perm("ledger.view_account")]

    class FilterSerializer(serializers.Serializer):
        as_of = serializers.DateField(required=False)

    @object_schema("TrialBalance", TRIAL_BALANCE_FIELDS, FilterSerializer)
    def get(self, request, entity_id):
        entity = get_object_or_404(Entity, pk=entity_id)
        filters = query(self.FilterSerializer, request)
        report = selectors.trial_balance(entity, filters.get("as_of"))
        return Response(report)


class AccountListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField()
        code = serializers.CharField(max_length=32)
        name = serializers.CharField(max_length=200)
        type = serializers.ChoiceField(choices=Account.Type.choices)

    class FilterSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField(required=False)

    def get_permissions(self):
        perm = "ledger.manage_entity" if self.request.method == "POST" else "ledger.view_account"
        return [has_perm(perm)()]

    @list_schema("AccountList", AccountOutput, FilterSerializer)
    def get(self, request):
        filters = query(self.FilterSerializer, request)
        accounts = Account.objects.all()
        if "entity_id" in filters:
            accounts = accounts.filter(entity_id=filters["entity_id"])
        return Response({"results": AccountOutput(accounts, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: AccountOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = commands.account_create(api_actor(request), **data.validated_data)
        return Response(AccountOutput(account).data, status=status.HTTP_201_CREATED)


class AccountDetailApi(APIView):
    permission_classes = [has_perm("ledger.view_account")]

    @extend_schema(responses={200: AccountOutput})
    def get(self, request, account_id):
        return Response(AccountOutput(get_object_or_404(Account, pk=account_id)).data)


class AccountBalanceApi(APIView):
    permission_classes = [has_perm("ledger.view_account")]

    @object_schema("AccountBalance", BALANCE_FIELDS)
    def get(self, request, account_id):
        balance = selectors.account_balance(account_id)
        if balance is None:
            raise Http404("No AccountBalance matches the given query.")
        return Response(
            {
                "id": str(balance.id),
                "account_id": str(balance.account_id),
                "entity_id": str(balance.entity_id),
                "balance_minor": balance.balance_minor,
                "currency_code": balance.currency_code,
                "version": balance.version,
                "updated_at": balance.updated_at,
            }
        )


class PeriodListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField()
        name = serializers.CharField(max_length=64)
        start_date = serializers.DateField()
        end_date = serializers.DateField()

    class FilterSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField(required=False)

    def get_permissions(self):
        perm = "ledger.close_period" if self.request.method == "POST" else "ledger.view_period"
        return [has_perm(perm)()]

    @list_schema("PeriodList", PeriodOutput, FilterSerializer)
    def get(self, request):
        filters = query(self.FilterSerializer, request)
        periods = Period.objects.all()
        if "entity_id" in filters:
            periods = periods.filter(entity_id=filters["entity_id"])
        return Response({"results": PeriodOutput(periods, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: PeriodOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        period = commands.period_create(api_actor(request), **data.validated_data)
        return Response(PeriodOutput(period).data, status=status.HTTP_201_CREATED)


class PeriodDetailApi(APIView):
    permission_classes = [has_perm("ledger.view_period")]

    @extend_schema(responses={200: PeriodOutput})
    def get(self, request, period_id):
        return Response(PeriodOutput(get_object_or_404(Period, pk=period_id)).data)


class PeriodCloseApi(APIView):
    permission_classes = [has_perm("ledger.close_period")]

    @extend_schema(request=None, responses={200: PeriodOutput})
    def post(self, request, period_id):
        get_object_or_404(Period, pk=period_id)
        period = commands.period_close(api_actor(request), period_id=period_id)
        return Response(PeriodOutput(period).data)


class PeriodReopenApi(APIView):
    permission_classes = [has_perm("ledger.close_period")]

    @extend_schema(request=None, responses={200: PeriodOutput})
    def post(self, request, period_id):
        get_object_or_404(Period, pk=period_id)
        period = commands.period_reopen(api_actor(request), period_id=period_id)
        return Response(PeriodOutput(period).data)


class FxRateListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        base_currency = serializers.CharField(min_length=3, max_length=3)
        quote_currency = serializers.CharField(min_length=3, max_length=3)
        rate = serializers.DecimalField(max_digits=28, decimal_places=12, min_value=0)
        as_of = serializers.DateField()

    def get_permissions(self):
        perm = "ledger.manage_fxrate" if self.request.method == "POST" else "ledger.view_fxrate"
        return [has_perm(perm)()]

    @list_schema("FxRateList", FxRateOutput)
    def get(self, request):
        rates = FxRate.objects.order_by("base_currency", "quote_currency", "-as_of")[:1000]
        return Response({"results": FxRateOutput(rates, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: FxRateOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["base_currency"] = values["base_currency"].upper()
        values["quote_currency"] = values["quote_currency"].upper()
        rate = commands.fx_rate_create(api_actor(request), **values)
        return Response(FxRateOutput(rate).data, status=status.HTTP_201_CREATED)


class JournalEntryListCreateApi(APIView):
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

    def get_permissions(self):
        perm = (
            "ledger.prepare_journalentry"
            if self.request.method == "POST"
            else "ledger.view_journalentry"
        )
        return [has_perm(perm)()]

    @list_schema("JournalEntryList", JournalEntryOutput, FilterSerializer)
    def get(self, request):
        filters = query(self.FilterSerializer, request)
        limit, offset = filters.pop("limit"), filters.pop("offset")
        entries = selectors.journal_entry_list(**filters)[offset : offset + limit]
        return Response({"results": JournalEntryOutput(entries, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: JournalEntryOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["lines"] = parse_lines(values["lines"])
        values["external_id"] = idempotency.request_key(request.headers, values.get("external_id"))
        entry = commands.journal_entry_create(api_actor(request), **values)
        return Response(
            journal_entry_body(entry),
            status=status.HTTP_201_CREATED,
            headers=idempotency.replay_headers(entry),
        )


class JournalEntryDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        memo = serializers.CharField(max_length=MEMO_MAX, allow_blank=True, required=False)
        posting_date = serializers.DateField(required=False)
        lines = serializers.JSONField(required=False)

    def get_permissions(self):
        perm = (
            "ledger.prepare_journalentry"
            if self.request.method == "PATCH"
            else "ledger.view_journalentry"
        )
        return [has_perm(perm)()]

    @extend_schema(responses={200: JournalEntryOutput})
    def get(self, request, entry_id):
        return Response(journal_entry_body(get_object_or_404(JournalEntry, pk=entry_id)))

    @extend_schema(request=InputSerializer, responses={200: JournalEntryOutput})
    def patch(self, request, entry_id):
        get_object_or_404(JournalEntry, pk=entry_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "lines" in values:
            values["lines"] = parse_lines(values["lines"])
        entry = commands.journal_entry_update(api_actor(request), entry_id=entry_id, **values)
        return Response(journal_entry_body(entry))


class JournalEntryActionApi(APIView):
    """POST /journal-entries/{id}/<action>: validate, call the command, return the entry."""

    command = None
    perm = "ledger.prepare_journalentry"
    InputSerializer: type[serializers.Serializer] | None = None

    def get_permissions(self):
        return [has_perm(self.perm)()]

    def post(self, request, entry_id):
        get_object_or_404(JournalEntry, pk=entry_id)
        values = {}
        if self.InputSerializer is not None:
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
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
    perm = "ledger.approve_journalentry"


class JournalEntryRejectApi(JournalEntryActionApi):
    command = commands.journal_entry_reject
    perm = "ledger.approve_journalentry"

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
