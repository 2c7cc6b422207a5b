"""The benchmark's books are real books, and a level of its writers pays and posts
through the commands with no error and no broken invariant."""

import pytest

from ledger.models import JournalEntry
from ops import benchmark as bm
from payables.models import Payment
from tests.conftest import assert_invariants_hold

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_bench_user():
    """The bench looks its user up once a process; each test's database has its own."""
    bm.bench_user.cache_clear()
    yield
    bm.bench_user.cache_clear()


def test_hot_books_take_payments_and_entries_from_every_writer():
    books = bm.make_books("Hot Inc.", bills=2)
    for writer in range(3):
        bm.pay_once(books, writer)
        bm.journal_entry_once(books, writer)
    assert Payment.objects.filter(status=Payment.Status.POSTED).count() == 3
    entries = JournalEntry.objects.filter(entity_id=books.entity_id, source_type="MANUAL")
    assert [e.status for e in entries] == [JournalEntry.Status.POSTED] * 3
    assert_invariants_hold()


def test_a_level_of_forked_writers_ends_with_no_error_and_no_violation():
    books = bm.make_books("Hot Inc.", bills=2)
    result = bm.run_level("hot payments", 2, 0.2, bm.pay_once, lambda n: books)
    assert result.operations > 0
    assert (result.exhausted_503, result.other_errors, result.invariant_violations) == (0, 0, 0)
