"""The factories make every object through its command, as the actor given: each one is
audited as that command's, and what a command refuses, a factory cannot make."""

import pytest

from ledger.models import JournalEntry
from ops.factories import (
    BillFactory,
    BooksFactory,
    JournalEntryFactory,
    UserFactory,
    VendorFactory,
)
from platform_integrity.context import Actor
from platform_integrity.errors import PermissionDenied
from platform_integrity.models import AuditEvent
from tests.conftest import assert_invariants_hold

pytestmark = pytest.mark.django_db


def test_books_vendors_bills_and_entries_are_made_and_audited_by_their_commands():
    clerk = Actor(UserFactory(username="erin", roles=["ap_clerk"]), "API")
    books = BooksFactory()
    vendor = VendorFactory(actor=clerk, entity=books.entity)
    BillFactory(
        actor=clerk,
        vendor=vendor,
        lines=[{"coa_account_id": books.account("6000").id, "amount_minor": 5_000}],
    )
    entry = JournalEntryFactory(
        entity=books.entity,
        period=books.period,
        lines=[books.line("6000", "DEBIT", 700), books.line("1000", "CREDIT", 700)],
        submitted=True,
    )
    assert entry.status == JournalEntry.Status.POSTED
    preparer = entry.prepared_by.username
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor")) == [
        ("ledger.entity_create", "system"),
        *[("ledger.account_create", "system")] * 4,
        ("ledger.entity_update", "system"),
        ("ledger.period_create", "system"),
        ("payables.vendor_create", "erin"),
        ("ledger.journal_entry_post", "erin"),  # the bill's entry
        ("payables.bill_create", "erin"),
        ("ledger.journal_entry_create", preparer),
        ("ledger.journal_entry_submit", preparer),
        ("ledger.journal_entry_post", preparer),
    ]
    assert_invariants_hold()


def test_a_factory_cannot_make_what_its_command_refuses():
    books = BooksFactory()
    accountant = Actor(UserFactory(username="alice", roles=["accountant"]), "API")
    with pytest.raises(PermissionDenied):
        VendorFactory(actor=accountant, entity=books.entity)


def test_a_user_holds_every_role_it_is_given():
    user = UserFactory(username="pat", roles=["accountant", "approver"])
    assert sorted(user.groups.values_list("name", flat=True)) == ["accountant", "approver"]
