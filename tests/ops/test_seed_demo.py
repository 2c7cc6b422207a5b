"""The demo company `make run` loads is consistent: it seeds, and every invariant holds."""

from io import StringIO

import pytest
from django.core.management import call_command

from ledger.models import Entity, JournalEntry
from payables.models import Bill
from platform_integrity.integrity import run_all

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_company_seeds_and_keeps_every_invariant():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Demo company loaded" in out.getvalue()
    assert Entity.objects.count() == 2
    assert JournalEntry.objects.filter(status=JournalEntry.Status.POSTED).exists()
    assert Bill.objects.filter(status=Bill.Status.OPEN).count() == 3
    assert {name: found for name, found in run_all().items() if found} == {}
