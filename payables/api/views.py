"""Payables API: one view per operation; each translates HTTP and calls one command."""

import re

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from ledger.money import MAX_MINOR
from payables import commands, rules, selectors
from payables.api.serializers import (
    BillOutput,
    BillSummaryOutput,
    PaymentOutput,
    PaymentRunOutput,
    VendorOutput,
)
from payables.models import Bill, Payment, PaymentRun
from platform_integrity import idempotency
from platform_integrity.context import Actor
from platform_integrity.errors import ValidationFailed
from platform_integrity.web.filters import PageSerializer, query
from platform_integrity.web.schema import list_schema
from platform_integrity.web.views import Api, body, created

MAX_PAGE = 500
MAX_RUN_ITEMS = 1000


def api_actor(request, channel: str = "API") -> Actor:
    return Actor.from_request(request, channel)


def _list(request, filter_class, select, output) -> Response:
    """A filtered page of `select(**filters)`, as `{"results": [...]}`."""
    params = query(filter_class, request)
    limit, offset = params.pop("limit"), params.pop("offset")
    return Response({"results": output(select(**params)[offset : offset + limit], many=True).data})


# Vendors -----------------------------------------------------------------------------


class VendorListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField()
        name = serializers.CharField(max_length=200)
        currency_code = serializers.CharField(min_length=3, max_length=3)
        external_id = serializers.CharField(max_length=255, required=False, allow_null=True)

    class FilterSerializer(PageSerializer):
        entity_id = serializers.UUIDField(required=False)

    read_permission = "payables.view_vendor"
    write_permission = "payables.manage_vendor"

    @list_schema("VendorList", VendorOutput, FilterSerializer)
    def get(self, request):
        return _list(request, self.FilterSerializer, selectors.vendor_list, VendorOutput)

    @extend_schema(request=InputSerializer, responses={201: VendorOutput})
    def post(self, request):
        values = body(self.InputSerializer, request)
        values["currency_code"] = values["currency_code"].upper()
        values["external_id"] = idempotency.request_key(request.headers, values.get("external_id"))
        vendor = commands.vendor_create(api_actor(request), **values)
        return created(VendorOutput, vendor)


class VendorDetailApi(Api):
    read_permission = write_permission = "payables.view_vendor"

    @extend_schema(responses={200: VendorOutput})
    def get(self, request, vendor_id):
        return Response(VendorOutput(selectors.vendor_get(vendor_id)).data)


# Bills -------------------------------------------------------------------------------


class BillListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            coa_account_id = serializers.UUIDField()
            amount_minor = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
            memo = serializers.CharField(max_length=500, required=False, allow_blank=True)

        entity_id = serializers.UUIDField()
        vendor_id = serializers.UUIDField()
        number = serializers.CharField(max_length=64)
        currency_code = serializers.CharField(min_length=3, max_length=3)
        bill_date = serializers.DateField()
        due_date = serializers.DateField()
        lines = LineSerializer(many=True, allow_empty=False, max_length=MAX_RUN_ITEMS)
        external_id = serializers.CharField(max_length=255, required=False, allow_null=True)

    class FilterSerializer(PageSerializer):
        entity_id = serializers.UUIDField(required=False)
        vendor_id = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=Bill.Status.choices, required=False)
        due_before = serializers.DateField(required=False)

    read_permission = "payables.view_bill"
    write_permission = "payables.enter_bill"

    @list_schema("BillList", BillSummaryOutput, FilterSerializer)
    def get(self, request):
        return _list(request, self.FilterSerializer, selectors.bill_list, BillSummaryOutput)

    @extend_schema(request=InputSerializer, responses={201: BillOutput})
    def post(self, request):
        values = body(self.InputSerializer, request)
        values["currency_code"] = values["currency_code"].upper()
        values["lines"] = [dict(line) for line in values["lines"]]
        values["external_id"] = idempotency.request_key(request.headers, values.get("external_id"))
        bill = commands.bill_create(api_actor(request), **values)
        return created(BillOutput, selectors.bill_get(bill.id), replayed=bill.replayed)


class BillDetailApi(Api):
    read_permission = write_permission = "payables.view_bill"

    @extend_schema(responses={200: BillOutput})
    def get(self, request, bill_id):
        return Response(BillOutput(selectors.bill_get(bill_id)).data)


# Payments ----------------------------------------------------------------------------


def _if_match_version(header: str | None) -> int | None:
    """The vendor version from an If-Match header: `3`, `"3"` or `W/"3"`."""
    if header is None:
        return None
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,18})"?\s*', header)
    if match is None:
        raise ValidationFailed(
            'If-Match must carry the vendor version, e.g. If-Match: "3".',
            errors={"If-Match": ["Not a version number."]},
        )
    return int(match.group(1))


class PaymentListCreateApi(Api):
    class InputSerializer(serializers.Serializer):
        bill_id = serializers.UUIDField()
        amount_minor = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
        currency_code = serializers.CharField(min_length=3, max_length=3)
        channel = serializers.ChoiceField(choices=Payment.Channel.choices, default="API")
        external_id = serializers.CharField(
            max_length=255, required=False, allow_null=True, allow_blank=False
        )
        expected_version = serializers.IntegerField(
            min_value=0, max_value=MAX_MINOR, required=False, allow_null=True
        )
        post = serializers.BooleanField(default=False)

    class FilterSerializer(PageSerializer):
        bill_id = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=Payment.Status.choices, required=False)

    read_permission = "payables.view_payment"
    write_permission = "payables.pay_bill"

    @list_schema("PaymentList", PaymentOutput, FilterSerializer)
    def get(self, request):
        return _list(request, self.FilterSerializer, selectors.payment_list, PaymentOutput)

    @extend_schema(request=InputSerializer, responses={201: PaymentOutput})
    def post(self, request):
        values = body(self.InputSerializer, request)
        channel = values.pop("channel")
        rules.check_declared_channel(channel)
        values["external_id"] = idempotency.request_key(request.headers, values.get("external_id"))
        if values.get("expected_version") is None:
            values["expected_version"] = _if_match_version(request.headers.get("If-Match"))
        values["currency_code"] = values["currency_code"].upper()
        payment = commands.payment_submit(api_actor(request, channel), **values)
        return created(PaymentOutput, payment)


class PaymentDetailApi(Api):
    read_permission = write_permission = "payables.view_payment"

    @extend_schema(responses={200: PaymentOutput})
    def get(self, request, payment_id):
        return Response(PaymentOutput(selectors.payment_get(payment_id)).data)


class PaymentPostApi(Api):
    read_permission = write_permission = "payables.pay_bill"

    @extend_schema(request=None, responses={200: PaymentOutput})
    def post(self, request, payment_id):
        payment = commands.payment_post(api_actor(request), payment_id=payment_id)
        return Response(PaymentOutput(payment).data)


class PaymentVoidApi(Api):
    read_permission = write_permission = "payables.pay_bill"

    class InputSerializer(serializers.Serializer):
        reason_code = serializers.CharField(max_length=64)
        reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses={200: PaymentOutput})
    def post(self, request, payment_id):
        data = body(self.InputSerializer, request)
        payment = commands.payment_void(api_actor(request), payment_id=payment_id, **data)
        return Response(PaymentOutput(payment).data)


# Sync and batch runs -----------------------------------------------------------------


def _accepted(run: PaymentRun) -> Response:
    """202: the run is recorded, and its task was sent when it committed (or the sweeper will)."""
    return Response(
        PaymentRunOutput(selectors.payment_run_get(run.id)).data,
        status=status.HTTP_202_ACCEPTED,
        headers=idempotency.replay_headers(run),
    )


class PaymentSyncRunCreateApi(Api):
    read_permission = write_permission = "payables.pay_bill"

    class InputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            # Kept as text: an unknown or malformed bill id fails its own item, not the feed.
            bill_id = serializers.CharField(max_length=64)
            amount_minor = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
            currency_code = serializers.CharField(min_length=3, max_length=3)
            external_id = serializers.CharField(max_length=255)

        entity_id = serializers.UUIDField()
        items = ItemSerializer(many=True, allow_empty=False, max_length=MAX_RUN_ITEMS)
        external_id = serializers.CharField(max_length=255, required=False, allow_null=True)

    @extend_schema(request=InputSerializer, responses={202: PaymentRunOutput})
    def post(self, request):
        data = body(self.InputSerializer, request)
        items = [{**item, "currency_code": item["currency_code"].upper()} for item in data["items"]]
        run = commands.payment_run_create(
            api_actor(request),
            kind=PaymentRun.Kind.SYNC,
            entity_id=data["entity_id"],
            items=items,
            external_id=idempotency.request_key(request.headers, data.get("external_id")),
        )
        return _accepted(run)


class PaymentBatchRunCreateApi(Api):
    read_permission = write_permission = "payables.pay_bill"

    class InputSerializer(serializers.Serializer):
        entity_id = serializers.UUIDField(required=False)
        bill_ids = serializers.ListField(
            child=serializers.CharField(max_length=64),
            allow_empty=False,
            max_length=MAX_RUN_ITEMS,
        )
        external_id = serializers.CharField(max_length=255, required=False, allow_null=True)

    @extend_schema(request=InputSerializer, responses={202: PaymentRunOutput})
    def post(self, request):
        data = body(self.InputSerializer, request)
        run = commands.payment_run_create(
            api_actor(request),
            kind=PaymentRun.Kind.BATCH,
            entity_id=data.get("entity_id"),
            items=[{"bill_id": bill_id} for bill_id in data["bill_ids"]],
            external_id=idempotency.request_key(request.headers, data.get("external_id")),
        )
        return _accepted(run)


class PaymentRunDetailApi(Api):
    read_permission = write_permission = "payables.view_payment"
    kind = ""

    @extend_schema(responses={200: PaymentRunOutput})
    def get(self, request, run_id):
        return Response(PaymentRunOutput(selectors.payment_run_get(run_id, kind=self.kind)).data)
