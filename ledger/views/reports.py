"""The dashboard and the ledger's reports."""

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ledger import selectors
from ledger.forms import TrialBalanceForm
from ledger.models import Entity, JournalEntry

Status = JournalEntry.Status


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {}
    if request.user.has_perm("ledger.view_journalentry"):
        counts = JournalEntry.objects.aggregate(
            drafts=Count("id", filter=Q(status=Status.DRAFT)),
            pending=Count("id", filter=Q(status=Status.PENDING_APPROVAL)),
            posted_today=Count(
                "id", filter=Q(status=Status.POSTED, posted_at__date=timezone.localdate())
            ),
        )
        context.update(
            counts=counts,
            my_drafts=selectors.journal_entry_list(status=Status.DRAFT)
            .filter(prepared_by=request.user)
            .count(),
            recent=selectors.journal_entry_list()[:8],
        )
    return render(request, "dashboard.html", context)


@login_required
@permission_required("ledger.view_account", raise_exception=True)
def trial_balance(request: HttpRequest) -> HttpResponse:
    first = Entity.objects.order_by("name").first()
    form = TrialBalanceForm(
        request.GET or {"entity": first.pk if first else None, "as_of": timezone.localdate()}
    )
    report = None
    if form.is_valid():
        report = selectors.trial_balance(form.cleaned_data["entity"], form.cleaned_data["as_of"])
    return render(request, "ledger/trial_balance.html", {"form": form, "report": report})
