"""Ledger API: one view per operation; each translates HTTP and calls one command."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ledger import commands, selectors
from ledger.api.serializers import (
    BALANCE_FIELDS,
    TRIAL_BALANCE_FIELDS,
    AccountOutput,
    EntityOutput,
    FxRateOutput,
    PeriodOutput,
)
from ledger.models import Account, Entity, FxRate, Period
from ledger.money import MAX_MINOR
from platform_integrity.context import Actor
from platform_integrity.web.auth import has_perm
from platform_integrity.web.filters import query
from platform_integrity.web.schema import list_schema, object_schema
from platform_integrity.web.views import Api, body, created

# What a finance team writes in an entry's memo or a reason, with room to spare.
MEMO_MAX = 1000
REASON_MAX = 1000

MANAGE = has_perm("ledger.manage_entity")


def api_actor(request) -> Actor:
    return Actor.from_request(request, "API")


class EntityListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        functional_currency = serializers.CharField(min_length=3, max_length=3)
        approval_threshold_minor = serializers.IntegerField(
            min_value=0, max_value=MAX_MINOR, default=0
        )

    read_permission = "ledger.view_entity"
    write_permission = "ledger.manage_entity"

    @list_schema("EntityList", EntityOutput)
    def get(self, request):
        return Response({"results": EntityOutput(Entity.objects.order_by("name"), many=True).data})

    @extend_schema(request=InputSerializer, responses={201: EntityOutput})
    def post(self, request):
        values = body(self.InputSerializer, request)
        values["functional_currency"] = values["functional_currency"].upper()
        entity = commands.entity_create(api_actor(request), **values)
        return created(EntityOutput, entity)


class EntityDetailApi(Api):
    class InputSerializer(serializers.Serializer):
        approval_threshold_minor = serializers.IntegerField(
            min_value=0, max_value=MAX_MINOR, required=False
        )
        ap_control_account_id = serializers.UUIDField(required=False)
        bank_account_id = serializers.UUIDField(required=False)
        fx_gain_loss_account_id = serializers.UUIDField(required=False)

    read_permission = "ledger.view_entity"
    write_permission = "ledger.manage_entity"

    @extend_schema(responses={200: EntityOutput})
    def get(self, request, entity_id):
        return Response(EntityOutput(get_object_or_404(Entity, pk=entity_id)).data)

    @extend_schema(request=InputSerializer, responses={200: EntityOutput})
    def patch(self, request, entity_id):
        get_object_or_404(Entity, pk=entity_id)
        data = body(self.InputSerializer, request)
        entity = commands.entity_update(api_actor(request), entity_id=entity_id, **data)
        return Response(EntityOutput(entity).data)


class TrialBalanceApi(Api):
    read_permission = write_permission = "ledger.view_account"

    class FilterSerializer(serializers.Serializer):
        as_of = serializers.DateField(required=False)

    @object_schema("TrialBalance", TRIAL_BALANCE_FIELDS, FilterSerializer)
    def get(self, request, entity_id):
        entity = get_object_or_404(Entity, pk=entity_id)
        filters = query(self.FilterSerializer, request)
        report = selectors.trial_balance(entity, filters.get("as_of"))
        return Response(report)


class AccountListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField()
        code = serializers.CharField(max_length=32)
        name = serializers.CharField(max_length=200)
        type = serializers.ChoiceField(choices=Account.Type.choices)

    class FilterSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField(required=False)

    read_permission = "ledger.view_account"
    write_permission = "ledger.manage_entity"

    @list_schema("AccountList", AccountOutput, FilterSerializer)
    def get(self, request):
        filters = query(self.FilterSerializer, request)
        accounts = Account.objects.all()
        if "entity_id" in filters:
            accounts = accounts.filter(entity_id=filters["entity_id"])
        return Response({"results": AccountOutput(accounts, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: AccountOutput})
    def post(self, request):
        data = body(self.InputSerializer, request)
        account = commands.account_create(api_actor(request), **data)
        return created(AccountOutput, account)


class AccountDetailApi(Api):
    read_permission = write_permission = "ledger.view_account"

    @extend_schema(responses={200: AccountOutput})
    def get(self, request, account_id):
        return Response(AccountOutput(get_object_or_404(Account, pk=account_id)).data)


class AccountBalanceApi(Api):
    read_permission = write_permission = "ledger.view_account"

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


class PeriodListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField()
        name = serializers.CharField(max_length=64)
        start_date = serializers.DateField()
        end_date = serializers.DateField()

    class FilterSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField(required=False)

    read_permission = "ledger.view_period"
    write_permission = "ledger.close_period"

    @list_schema("PeriodList", PeriodOutput, FilterSerializer)
    def get(self, request):
        filters = query(self.FilterSerializer, request)
        periods = Period.objects.all()
        if "entity_id" in filters:
            periods = periods.filter(entity_id=filters["entity_id"])
        return Response({"results": PeriodOutput(periods, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: PeriodOutput})
    def post(self, request):
        data = body(self.InputSerializer, request)
        period = commands.period_create(api_actor(request), **data)
        return created(PeriodOutput, period)


class PeriodDetailApi(Api):
    read_permission = write_permission = "ledger.view_period"

    @extend_schema(responses={200: PeriodOutput})
    def get(self, request, period_id):
        return Response(PeriodOutput(get_object_or_404(Period, pk=period_id)).data)


class PeriodCloseApi(Api):
    read_permission = write_permission = "ledger.close_period"

    @extend_schema(request=None, responses={200: PeriodOutput})
    def post(self, request, period_id):
        get_object_or_404(Period, pk=period_id)
        period = commands.period_close(api_actor(request), period_id=period_id)
        return Response(PeriodOutput(period).data)


class PeriodReopenApi(Api):
    read_permission = write_permission = "ledger.close_period"

    @extend_schema(request=None, responses={200: PeriodOutput})
    def post(self, request, period_id):
        get_object_or_404(Period, pk=period_id)
        period = commands.period_reopen(api_actor(request), period_id=period_id)
        return Response(PeriodOutput(period).data)


class FxRateListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        base_currency = serializers.CharField(min_length=3, max_length=3)
        quote_currency = serializers.CharField(min_length=3, max_length=3)
        rate = serializers.DecimalField(max_digits=28, decimal_places=12, min_value=0)
        as_of = serializers.DateField()

    read_permission = "ledger.view_fxrate"
    write_permission = "ledger.manage_fxrate"

    @list_schema("FxRateList", FxRateOutput)
    def get(self, request):
        rates = FxRate.objects.order_by("base_currency", "quote_currency", "-as_of")[:1000]
        return Response({"results": FxRateOutput(rates, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: FxRateOutput})
    def post(self, request):
        values = body(self.InputSerializer, request)
        values["base_currency"] = values["base_currency"].upper()
        values["quote_currency"] = values["quote_currency"].upper()
        rate = commands.fx_rate_create(api_actor(request), **values)
        return created(FxRateOutput, rate)
