"""The database freezes the lines of POSTED and VOID entries, whatever SQL touches them:
a line cannot leave such an entry, join one, change or be deleted, and a VOID entry
cannot be reopened to thaw them. Written as the owner would, with raw SQL."""

import pytest
from django.db import DatabaseError, connection, transaction

from ledger import commands
from ledger.lines import LineInput
from ledger.models import JournalEntry, JournalEntryLine
from platform_integrity.context import Actor
from tests.conftest import TODAY, make_books, make_user, posted_entry


def draft_entry(books, amount_minor: int, actor: Actor) -> JournalEntry:
    return commands.journal_entry_create(
        actor,
        entity_id=books.entity.id,
        period_id=books.period.id,
        posting_date=TODAY,
        lines=[
            LineInput(books.account("6100").id, "DEBIT", amount_minor, "USD"),
            LineInput(books.account("1000").id, "CREDIT", amount_minor, "USD"),
        ],
    )


def refused(sql: str, params: list) -> None:
    with (
        pytest.raises(DatabaseError, match=r"immutable|no line can be added"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


@pytest.fixture
def entries(db):
    return make_entries()


@pytest.fixture
def committed_entries(transactional_db):
    """The same entries, each committed: a check at COMMIT tells this test's writes from
    theirs."""
    return make_entries()


def make_entries():
    books = make_books()
    preparer = make_user("preparer", "accountant")
    actor = Actor(user=preparer, channel="API")
    posted = posted_entry(books, 12_345, preparer=preparer)
    draft = draft_entry(books, 500, actor)
    voided = commands.journal_entry_void(
        actor, entry_id=draft_entry(books, 700, actor).id, reason="typo"
    )
    assert (posted.status, draft.status, voided.status) == ("POSTED", "DRAFT", "VOID")
    return posted, draft, voided


def lines_of(entry: JournalEntry) -> list[tuple]:
    return list(
        JournalEntryLine.objects.filter(journal_entry=entry)
        .order_by("pk")
        .values_list("pk", "direction", "functional_amount_minor")
    )


def test_a_line_cannot_be_moved_out_of_a_posted_entry_into_a_draft(entries):
    posted, draft, _ = entries
    before = lines_of(posted)
    refused(
        "UPDATE journal_entry_line SET journal_entry_id = %s WHERE journal_entry_id = %s",
        [draft.id, posted.id],
    )
    assert lines_of(posted) == before


def test_a_line_cannot_be_moved_into_a_posted_or_void_entry(entries):
    posted, draft, voided = entries
    for target in (posted, voided):
        refused(
            "UPDATE journal_entry_line SET journal_entry_id = %s WHERE journal_entry_id = %s",
            [target.id, draft.id],
        )
    assert len(lines_of(draft)) == 2


def test_lines_of_a_void_entry_cannot_be_changed_moved_or_deleted(entries):
    _, draft, voided = entries
    before = lines_of(voided)
    refused(
        "UPDATE journal_entry_line SET functional_amount_minor = 1 WHERE journal_entry_id = %s",
        [voided.id],
    )
    refused(
        "UPDATE journal_entry_line SET journal_entry_id = %s WHERE journal_entry_id = %s",
        [draft.id, voided.id],
    )
    refused("DELETE FROM journal_entry_line WHERE journal_entry_id = %s", [voided.id])
    assert lines_of(voided) == before


def test_lines_of_a_posted_entry_cannot_be_deleted_or_changed(entries):
    posted, _, _ = entries
    before = lines_of(posted)
    refused("DELETE FROM journal_entry_line WHERE journal_entry_id = %s", [posted.id])
    refused(
        "UPDATE journal_entry_line SET functional_amount_minor = 1 WHERE journal_entry_id = %s",
        [posted.id],
    )
    assert lines_of(posted) == before


def test_a_void_entry_cannot_be_reopened_to_thaw_its_lines(entries):
    _, _, voided = entries
    refused("UPDATE journal_entry SET status = 'DRAFT' WHERE id = %s", [voided.id])
    refused("DELETE FROM journal_entry WHERE id = %s", [voided.id])
    assert JournalEntry.objects.get(pk=voided.pk).status == "VOID"


def test_draft_lines_can_still_be_edited_by_sql_and_by_the_update_command(entries):
    _, draft, _ = entries
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE journal_entry_line SET memo = 'checked' WHERE journal_entry_id = %s",
            [draft.id],
        )
    books_accounts = {line.coa_account_id for line in draft.lines.all()}
    debit, credit = sorted(books_accounts, key=str)
    edited = commands.journal_entry_update(
        Actor(user=draft.prepared_by, channel="API"),
        entry_id=draft.id,
        lines=[
            LineInput(debit, "DEBIT", 800, "USD"),
            LineInput(credit, "CREDIT", 800, "USD"),
        ],
    )
    assert edited.line_count == 2
    assert {amount for _, _, amount in lines_of(draft)} == {800}


def insert_line(entry: JournalEntry, account_id, direction: str, amount: int) -> str:
    return (
        "INSERT INTO journal_entry_line (journal_entry_id, line_no, coa_account_id, amount_minor,"
        " currency_code, functional_amount_minor, functional_currency_code, direction,"
        f" dimension_tags, memo) VALUES ('{entry.id}', 90, '{account_id}', {amount}, 'USD',"
        f" {amount}, 'USD', '{direction}', '{{}}', 'added by hand')"
    )


def test_no_line_joins_a_posted_or_void_entry_even_a_balanced_pair(committed_entries):
    posted, _, voided = committed_entries
    account = posted.lines.first().coa_account_id
    for target in (posted, voided):
        before = lines_of(target)
        with (
            pytest.raises(DatabaseError, match="no line can be added"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                insert_line(target, account, "DEBIT", 5).replace(
                    "'added by hand')", "'added by hand'), "
                )
                + insert_line(target, account, "CREDIT", 5)
                .split("VALUES ")[1]
                .replace(", 90,", ", 91,")
            )
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        assert lines_of(target) == before


def test_a_statement_that_unbalances_an_entry_is_refused_even_in_a_draft(entries):
    _, draft, _ = entries
    account = draft.lines.first().coa_account_id
    before = lines_of(draft)
    with (
        pytest.raises(DatabaseError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(insert_line(draft, account, "DEBIT", 5))
    with (
        pytest.raises(DatabaseError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "DELETE FROM journal_entry_line WHERE journal_entry_id = %s AND direction = 'DEBIT'",
            [draft.id],
        )
    assert lines_of(draft) == before
