"""The guarded unit of work on real PostgreSQL: no lost updates, bounded retries, no trace
of a rejected or exhausted attempt."""

import threading
import uuid

import psycopg
import pytest
from django.db import connection

from ledger import balances
from ledger.models import AccountBalance, JournalEntry
from payables.models import Bill
from platform_integrity import audit, outbox
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.db import libpq_dsn
from platform_integrity.errors import DomainError, NestedUnitOfWork, ValidationFailed
from platform_integrity.locks import send_lock
from platform_integrity.models import AuditEvent, ContentionCounter, OutboxEvent
from tests.conftest import (
    assert_invariants_hold,
    assert_problem,
    entry_body,
    line,
    make_books,
    posted_entry,
)


@command("test.apply_delta", entity_of=lambda *, lane, **_: lane)
def apply_delta(actor: Actor, *, lane: uuid.UUID, account_id, delta: int):
    """A bare balance change. Each thread gets its own `lane` (advisory lock), so the
    threads really race inside PostgreSQL and only SERIALIZABLE + the row lock + the
    retry loop stand between them and a lost update."""
    balances.move([({account_id: delta}, {"type": "test"})])


@command("test.emit_then_fail")
def emit_then_fail(actor: Actor):
    outbox.emit("test.should_not_escape", {"n": 1})
    audit.record(action="test.emit_then_fail", object_type="test", object_id="1")
    raise ValidationFailed("refused after writing", object_type="test", object_id="1")


def db_dsn() -> str:
    return libpq_dsn(connection.settings_dict)


@pytest.mark.django_db(transaction=True)
def test_racing_writers_lose_no_update_and_retries_are_counted(settings):
    settings.RIVANE_MAX_CONFLICT_RETRIES = 100
    books = make_books()
    account_id = books.account("1000").id
    threads, per_thread = 8, 15
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        lane = uuid.uuid4()
        try:
            barrier.wait()
            for i in range(per_thread):
                apply_delta(Actor.system(), lane=lane, account_id=account_id, delta=n * 100 + i + 1)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert errors == []
    expected = sum(n * 100 + i + 1 for n in range(threads) for i in range(per_thread))
    balance = AccountBalance.objects.get(account_id=account_id)
    assert balance.balance_minor == expected
    assert balance.version == threads * per_thread
    hot = ContentionCounter.objects.get(table_name="account_balance", row_id=str(account_id))
    assert hot.retries > 0
    assert hot.exhausted == 0


def hold_row_then_commit(table: str, row_id, started: threading.Event) -> None:
    """Update a row in a plain transaction and commit only once another session waits on it."""
    with psycopg.connect(db_dsn(), autocommit=False) as conn:
        conn.execute(f"UPDATE {table} SET version = version WHERE id = %s", [str(row_id)])
        started.set()
        for _ in range(500):
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
            ).fetchone()[0]
            if waiting:
                break
            threading.Event().wait(0.01)
        conn.commit()


def submit_while_the_bank_balance_is_held(api):
    """Submit a small entry while a plain transaction holds (and then commits an update
    of) the bank balance row the posting must lock: a real 40001 for the first attempt."""
    books = make_books()
    lines = [line(books.account("6000"), "DEBIT", 700), line(books.account("1000"), "CREDIT", 700)]
    entry = api["accountant"].post("/v1/journal-entries", entry_body(books, lines), format="json")
    bank_balance = AccountBalance.objects.get(account=books.account("1000"))
    before = (OutboxEvent.objects.count(), AuditEvent.objects.count())
    started = threading.Event()
    blocker = threading.Thread(
        target=hold_row_then_commit, args=("account_balance", bank_balance.id, started)
    )
    blocker.start()
    started.wait(5)
    response = api["accountant"].post(f"/v1/journal-entries/{entry.json()['id']}/submit")
    blocker.join()
    counter = ContentionCounter.objects.get(
        table_name="account_balance", row_id=str(bank_balance.account_id)
    )
    return entry.json(), response, bank_balance, before, counter


@pytest.mark.django_db(transaction=True)
def test_exhausted_retries_give_503_problem_and_leave_no_trace(settings, api):
    settings.RIVANE_MAX_CONFLICT_RETRIES = 0
    entry, response, bank_balance, before, counter = submit_while_the_bank_balance_is_held(api)

    problem = assert_problem(response, 503, "concurrency_retry_exhausted")
    assert response["Retry-After"] == "1"
    assert problem["attempts"] == 1
    assert JournalEntry.objects.get(pk=entry["id"]).status == "DRAFT"
    assert AccountBalance.objects.get(pk=bank_balance.pk).balance_minor == 0
    assert (OutboxEvent.objects.count(), AuditEvent.objects.count()) == before
    assert counter.exhausted == 1
    assert_invariants_hold()


@pytest.mark.django_db(transaction=True)
def test_a_conflict_is_retried_and_then_succeeds(settings, api):
    settings.RIVANE_MAX_CONFLICT_RETRIES = 3
    _, response, _, _, counter = submit_while_the_bank_balance_is_held(api)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "POSTED"
    assert (counter.retries, counter.exhausted) == (1, 0)
    assert OutboxEvent.objects.filter(event_type="gl.journal_entry.posted").count() == 1
    assert_invariants_hold()


@pytest.mark.django_db
def test_rejected_command_leaves_no_event_and_only_its_rejection_audit():
    with pytest.raises(DomainError):
        emit_then_fail(Actor.system())
    assert not OutboxEvent.objects.filter(event_type="test.should_not_escape").exists()
    rows = list(AuditEvent.objects.filter(action="test.emit_then_fail"))
    assert [(r.outcome, r.reason_code) for r in rows] == [("REJECTED", "validation_error")]


@pytest.mark.django_db(transaction=True)
def test_a_command_refuses_to_run_inside_another_transaction():
    from django.db import transaction

    with pytest.raises(NestedUnitOfWork), transaction.atomic():
        make_books()


@pytest.mark.django_db(transaction=True)
def test_money_commands_run_serializable():
    seen = []

    @command("test.isolation")
    def isolation(actor):
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            seen.append(cursor.fetchone()[0])

    isolation(Actor.system())
    assert seen == ["serializable"]


@pytest.mark.django_db(transaction=True)
def test_units_of_many_entities_racing_never_exhaust_a_tight_retry_bound(settings):
    settings.RIVANE_MAX_CONFLICT_RETRIES = 1
    entities = [make_books(f"Entity {n}") for n in range(6)]
    barrier = threading.Barrier(len(entities))
    failures: list[BaseException] = []

    def post_entries(books) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                posted_entry(books, 1_000)
        except BaseException as exc:  # surfaced below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post_entries, args=(b,)) for b in entities]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert JournalEntry.objects.filter(status="POSTED").count() == 30
    assert_invariants_hold()


@pytest.mark.django_db(transaction=True)
def test_locks_sent_together_hold_their_rows_in_lock_order_and_feed_the_balance_change():
    """A unit sends its locks before reading any (one round trip, pipelined): the rows
    are held once read, a lock sent out of order is refused, and balance rows locked
    that way are the ones a balance change moves, with the others locked as it needs."""
    books = make_books()
    cash, payable = books.accounts["1000"].id, books.accounts["2000"].id
    held = []

    @command("test.send_locks")
    def send_locks(actor):
        sent = balances.send_locks("ARRAY[%s::uuid]", [str(cash)])
        with pytest.raises(RuntimeError, match="Lock order violated"):
            send_lock(Bill, [uuid.uuid4()])
        locked = {row.account_id: row for row in sent.rows()}
        with psycopg.connect(db_dsn(), autocommit=True) as other:
            for account in (cash, payable):
                try:
                    other.execute(
                        "SELECT 1 FROM account_balance WHERE account_id = %s FOR UPDATE NOWAIT",
                        [account],
                    )
                except psycopg.errors.LockNotAvailable:
                    held.append(account)
        balances.move([({cash: 700, payable: -700}, {"type": "test"})], locked=locked)

    before = dict(AccountBalance.objects.values_list("account_id", "balance_minor"))
    send_locks(Actor.system())

    assert held == [cash]
    after = AccountBalance.objects.in_bulk([cash, payable], field_name="account_id")
    assert after[cash].balance_minor == before[cash] + 700
    assert after[payable].balance_minor == before[payable] - 700
    assert (after[cash].version, after[payable].version) == (1, 1)
