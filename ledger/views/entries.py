"""Journal entry screens: prepare, submit, review, approve or reject, void; the approval queue."""

import functools
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ledger import commands, money, rules, selectors
from ledger.forms import (
    JournalEntryFilterForm,
    JournalEntryForm,
    RejectForm,
    VoidForm,
    explain,
    line_formset,
    show_command_error,
)
from ledger.models import Account, Entity, JournalEntry, JournalEntryLine, Period
from platform_integrity.context import Actor
from platform_integrity.errors import DomainError, IdempotencyKeyReused
from platform_integrity.models import AuditEvent

Status = JournalEntry.Status
DEBIT = JournalEntryLine.Direction.DEBIT
ENTRIES_PER_PAGE = 25
LINES_PER_PAGE = 100


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "UI")


@login_required
@permission_required("ledger.view_journalentry", raise_exception=True)
def journal_entry_list(request: HttpRequest) -> HttpResponse:
    filters = JournalEntryFilterForm(request.GET or None)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    entries = selectors.journal_entry_list(
        entity_id=criteria["entity"].id if criteria.get("entity") else None,
        status=criteria.get("status") or None,
        search=criteria.get("q") or None,
    )
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "ledger/journal_entry_list.html",
        {"filters": filters, "page": page, "query": query.urlencode()},
    )


def _entry_form_context(form, lines) -> dict:
    return {
        "form": form,
        "lines": lines,
        "entities": Entity.objects.order_by("name"),
        "periods": Period.objects.filter(status=Period.Status.OPEN).order_by("start_date"),
        "accounts": Account.objects.filter(active=True).order_by("entity", "code"),
        "directions": JournalEntryLine.Direction.choices,
    }


def _initial_entry(request: HttpRequest) -> tuple[dict, list[dict]]:
    entity = (
        Entity.objects.filter(pk=request.GET.get("entity")).first()
        if _is_uuid(request.GET.get("entity"))
        else None
    )
    entity = entity or Entity.objects.order_by("name").first()
    today = timezone.localdate()
    period = (
        Period.objects.filter(
            entity=entity, status=Period.Status.OPEN, start_date__lte=today, end_date__gte=today
        ).first()
        if entity
        else None
    )
    currency = entity.functional_currency if entity else ""
    header = {
        "entity": entity,
        "period": period,
        "posting_date": today,
        "idempotency_key": JournalEntryForm.new_key(),
    }
    rows = [{"direction": d, "currency": currency} for d in (DEBIT, "CREDIT")]
    return header, rows


def _is_uuid(value) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


@login_required
@permission_required("ledger.prepare_journalentry", raise_exception=True)
def journal_entry_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        header, rows = _initial_entry(request)
        context = _entry_form_context(JournalEntryForm(initial=header), line_formset(initial=rows))
        return render(request, "ledger/journal_entry_form.html", context)

    form = JournalEntryForm(request.POST)
    lines = line_formset(request.POST)
    if form.is_valid() and lines.is_valid():
        actor = _actor(request)
        submit = "save_and_submit" in request.POST
        create = functools.partial(
            commands.journal_entry_create, actor, **form.command_kwargs(), lines=lines.line_inputs()
        )
        try:
            try:
                entry = create(submit=submit)
            except IdempotencyKeyReused:
                if not submit:
                    raise
                # "Save and submit" on a form already saved as a draft: the same form,
                # saved again, replays that draft, which is then submitted.
                entry = create(submit=False)
        except DomainError as err:
            show_command_error(form, lines, err)
        else:
            # A replayed form returns the entry its key first made, submitted or not.
            if submit and entry.status == Status.DRAFT:
                return _submit_and_redirect(request, actor, entry)
            messages.success(request, _submitted_message(entry) if submit else "Draft saved.")
            return redirect("ledger:journal_entry_detail", entry_id=entry.id)
    return render(
        request, "ledger/journal_entry_form.html", _entry_form_context(form, lines), status=422
    )


def _submit_and_redirect(request: HttpRequest, actor: Actor, entry: JournalEntry) -> HttpResponse:
    try:
        entry = commands.journal_entry_submit(actor, entry_id=entry.id)
    except DomainError as err:
        messages.error(request, f"The draft was saved but could not be submitted: {explain(err)}")
    else:
        messages.success(request, _submitted_message(entry))
    return redirect("ledger:journal_entry_detail", entry_id=entry.id)


def _submitted_message(entry: JournalEntry) -> str:
    if entry.status == Status.PENDING_APPROVAL:
        threshold = money.format_major(
            entry.entity.approval_threshold_minor, entry.functional_currency_code
        )
        return (
            f"Submitted. The entry is above the {threshold} {entry.functional_currency_code} "
            "approval threshold and waits for an approver."
        )
    return "Submitted and posted (under the approval threshold)."


@login_required
@permission_required("ledger.view_journalentry", raise_exception=True)
def journal_entry_detail(request: HttpRequest, entry_id: UUID) -> HttpResponse:
    entry = get_object_or_404(
        JournalEntry.objects.select_related(
            "entity", "period", "prepared_by", "approved_by", "reversal_of"
        ),
        pk=entry_id,
    )
    lines = entry.lines.select_related("coa_account").order_by("line_no")
    totals = entry.lines.aggregate(
        debit=Sum("functional_amount_minor", filter=Q(direction=DEBIT)),
        credit=Sum("functional_amount_minor", filter=~Q(direction=DEBIT)),
    )
    user = request.user
    pending = entry.status == Status.PENDING_APPROVAL
    context = {
        "entry": entry,
        "lines": Paginator(lines, LINES_PER_PAGE).get_page(request.GET.get("page")),
        "total_debit": totals["debit"] or 0,
        "total_credit": totals["credit"] or 0,
        "history": entry.history.select_related("history_user").order_by("history_date"),
        "audit": AuditEvent.objects.filter(
            object_type="journal_entry", object_id=str(entry.id)
        ).order_by("id"),
        "is_preparer": entry.prepared_by_id == user.pk,
        "can_submit": rules.may_submit(user, entry),
        "can_approve": pending and rules.may_approve(user, entry),
        "awaits_other_approver": pending
        and user.has_perm(rules.APPROVE)
        and rules.took_part(user.pk, entry),
        "can_void": rules.may_void(user, entry),
        "reject_form": RejectForm(),
    }
    return render(request, "ledger/journal_entry_detail.html", context)


def _run(request: HttpRequest, entry_id: UUID, call, success: str) -> HttpResponse:
    """Call one command for the entry and come back to it with a message."""
    try:
        entry = call(_actor(request), entry_id=entry_id)
    except DomainError as err:
        messages.error(request, explain(err))
    else:
        messages.success(request, success or _submitted_message(entry))
    return redirect("ledger:journal_entry_detail", entry_id=entry_id)


@require_POST
@login_required
@permission_required("ledger.prepare_journalentry", raise_exception=True)
def journal_entry_submit(request: HttpRequest, entry_id: UUID) -> HttpResponse:
    return _run(request, entry_id, commands.journal_entry_submit, "")


@require_POST
@login_required
@permission_required("ledger.approve_journalentry", raise_exception=True)
def journal_entry_approve(request: HttpRequest, entry_id: UUID) -> HttpResponse:
    return _run(request, entry_id, commands.journal_entry_approve, "Approved and posted.")


@require_POST
@login_required
@permission_required("ledger.approve_journalentry", raise_exception=True)
def journal_entry_reject(request: HttpRequest, entry_id: UUID) -> HttpResponse:
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "To reject, choose a reason and say why.")
        return redirect("ledger:journal_entry_detail", entry_id=entry_id)

    def reject(actor, *, entry_id):
        return commands.journal_entry_reject(actor, entry_id=entry_id, **form.cleaned_data)

    return _run(request, entry_id, reject, "Rejected: the entry is back in draft with your reason.")


@require_POST
@login_required
def journal_entry_void(request: HttpRequest, entry_id: UUID) -> HttpResponse:
    user = request.user
    if not (
        user.has_perm("ledger.prepare_journalentry") or user.has_perm("ledger.approve_journalentry")
    ):
        messages.error(request, "Your role does not allow voiding entries.")
        return redirect("ledger:journal_entry_detail", entry_id=entry_id)
    form = VoidForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""

    def void(actor, *, entry_id):
        return commands.journal_entry_void(actor, entry_id=entry_id, reason=reason)

    return _run(request, entry_id, void, "Voided.")


@login_required
@permission_required("ledger.approve_journalentry", raise_exception=True)
def approvals(request: HttpRequest) -> HttpResponse:
    pending = selectors.journal_entry_list(status=Status.PENDING_APPROVAL).order_by("submitted_at")
    page = Paginator(pending, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "ledger/approvals.html", {"page": page})
