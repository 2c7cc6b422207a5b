"""Calls queued behind a busy entity are answered together, each on its own terms.

The test holds the entity's lock from a connection of its own while callers in
threads queue up, then lets go: the first caller to get the lock answers every
queued call in one transaction (one `xmin` on every row it wrote).
"""

import json
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from ledger import commands as gl
from ledger.lines import LineInput
from ledger.models import AccountBalance, JournalEntry
from payables import commands
from payables.errors import DuplicatePaymentAttempt
from payables.models import Bill, Payment, Vendor
from platform_integrity.context import Actor
from platform_integrity.db import libpq_dsn
from platform_integrity.errors import IdempotencyKeyReused
from platform_integrity.models import AuditEvent, OutboxEvent, QueuedCommand
from platform_integrity.turns import QUEUED_FRESH_FOR, chain_key
from platform_integrity.unit import chain_for
from tests.payables.conftest import assert_invariants_hold, make_bill, make_books, today

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def books(transactional_db):
    """Payables books: an entity with a chart, an open period around today and a vendor."""
    return make_books()


class EntityHeld:
    """Hold an entity's turn from another session's open transaction until `release`."""

    def __init__(self, entity_id) -> None:
        self.conn = psycopg.connect(libpq_dsn(connection.settings_dict))
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [chain_key(chain_for(entity_id))])

    def release(self) -> None:
        self.conn.commit()
        self.conn.close()


def queued_together(calls: list, entity_id) -> list:
    """Run `calls` in threads while their entity is held; let go once all are queued."""
    held = EntityHeld(entity_id)
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while QueuedCommand.objects.count() < len(calls):
            assert time.monotonic() < deadline, "the calls never queued"
            time.sleep(0.01)
    finally:
        held.release()
    for thread in threads:
        thread.join(timeout=60)
    return results


def written_in_one_transaction(table: str, ids: list) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(DISTINCT xmin::text) FROM {table} WHERE id = ANY(%s)",
            [[str(i) for i in ids]],
        )
        return cursor.fetchone()[0] == 1


def test_queued_payments_are_answered_in_one_transaction_each_with_its_own_outcome(books):
    bills = [make_bill(books, 10_000 + i, number=f"Q-{i}") for i in range(5)]
    vendor_before = Vendor.objects.get(pk=books.vendor.pk)
    callers = [
        books.actor("integration", "SYNC", ip="198.51.100.1"),
        books.actor("clerk", "UI", ip="198.51.100.2"),
        books.actor("integration", "API", ip="198.51.100.3"),
        books.actor("clerk", "BATCH", ip="198.51.100.4"),
    ]
    contested = bills[4]
    rivals = [
        (books.actor("clerk", "UI", ip="198.51.100.5"), None),
        (books.actor("integration", "SYNC", ip="198.51.100.6"), "sync-7"),
    ]

    def pay(actor, bill, external_id=None):
        return lambda: commands.payment_submit(
            actor, bill_id=bill.id, external_id=external_id, post=True
        )

    results = queued_together(
        [
            *(pay(actor, bill) for actor, bill in zip(callers, bills[:4], strict=True)),
            *(pay(actor, contested, external_id) for actor, external_id in rivals),
        ],
        books.entity.id,
    )

    payments = results[:4]
    assert all(isinstance(p, Payment) for p in payments), results
    assert [p.bill_id for p in payments] == [b.id for b in bills[:4]]
    assert [p.channel for p in payments] == ["SYNC", "UI", "API", "BATCH"]
    # The contested bill is paid once, whichever rival the batch ran first.
    winners = [r for r in results[4:] if isinstance(r, Payment)]
    losers = [(rival, r) for rival, r in zip(rivals, results[4:], strict=True) if r not in winners]
    assert len(winners) == 1 and len(losers) == 1, results
    (loser_actor, loser_key), refusal = losers[0]
    assert isinstance(refusal, DuplicatePaymentAttempt) and refusal.status == 409
    assert refusal.extra["bill_id"] == str(contested.id)
    assert written_in_one_transaction("payment", [p.id for p in [*payments, *winners]])

    for bill in bills:
        stored = Bill.objects.get(pk=bill.id)
        assert (stored.status, stored.balance_due_minor, stored.in_flight_payment_id) == (
            "PAID",
            0,
            None,
        )
    vendor = Vendor.objects.get(pk=books.vendor.pk)
    paid = sum(b.total_minor for b in bills)
    assert vendor.open_balance_minor == vendor_before.open_balance_minor - paid
    assert vendor.version == vendor_before.version + 5  # one change per payment
    assert AccountBalance.objects.get(account=books.account("1000")).balance_minor == -paid

    # Each caller's own actor, channel and IP, on its own audit rows.
    for payment, actor in zip(payments, callers, strict=True):
        row = AuditEvent.objects.get(action="payables.payment_submit", object_id=str(payment.id))
        assert (row.actor, row.channel, row.ip) == (actor.username, actor.channel, actor.ip)
    rejected = AuditEvent.objects.get(
        action="payables.payment_submit",
        outcome="REJECTED",
        reason_code=DuplicatePaymentAttempt.code,
    )
    assert (rejected.actor, rejected.channel, rejected.ip) == (
        loser_actor.username,
        loser_actor.channel,
        loser_actor.ip,
    )
    assert rejected.payload["external_id"] == loser_key
    assert OutboxEvent.objects.filter(event_type="payment.rejected_duplicate").count() == 1
    assert OutboxEvent.objects.filter(event_type="payment.posted").count() == 5
    assert QueuedCommand.objects.count() == 0
    assert_invariants_hold()


def test_an_idempotency_key_replayed_inside_one_batch_returns_the_first_payment(books):
    bill = make_bill(books, 50_000)
    actor = books.actor("integration", "SYNC")

    def pay(amount):
        return lambda: commands.payment_submit(
            actor, bill_id=bill.id, amount_minor=amount, external_id="feed-1", post=True
        )

    amounts = [20_000, 20_000, 30_000]
    results = queued_together([pay(amount) for amount in amounts], books.entity.id)

    # Whichever call the batch ran first made the payment; the others replay it
    # (same request) or are refused (same key, different amount).
    originals = [r for r in results if isinstance(r, Payment) and not r.replayed]
    assert len(originals) == 1, results
    original = originals[0]
    for amount, result in zip(amounts, results, strict=True):
        if amount == original.amount_minor:
            assert isinstance(result, Payment) and result.id == original.id
        else:
            assert isinstance(result, IdempotencyKeyReused)
    assert sum(isinstance(r, Payment) and r.replayed for r in results) in (0, 1)
    assert Payment.objects.filter(bill=bill).count() == 1
    assert Bill.objects.get(pk=bill.id).balance_due_minor == 50_000 - original.amount_minor
    assert_invariants_hold()


def test_a_call_that_breaks_its_batch_fails_alone(books):
    bills = [make_bill(books, 7_000, number=f"F-{i}") for i in range(3)]
    actor = books.actor("integration", "API")

    def pay(bill, **extra):
        return lambda: commands.payment_submit(actor, bill_id=bill.id, post=True, **extra)

    results = queued_together(
        [pay(bills[0]), pay(bills[1], unknown_argument=1), pay(bills[2])], books.entity.id
    )

    assert isinstance(results[1], TypeError)
    assert [type(r) for r in (results[0], results[2])] == [Payment, Payment]
    assert Bill.objects.get(pk=bills[1].id).balance_due_minor == 7_000
    assert Payment.objects.filter(bill=bills[1]).count() == 0
    assert QueuedCommand.objects.count() == 0
    assert_invariants_hold()


def entry_creator(books, preparer, *, days_back: bool = False):
    """`create(n)`: a call creating draft "entry n" of 100 + n, Dr expense / Cr bank,
    in the entity's period (dated n days back with `days_back`); approval needs more."""
    period = books.entity.periods.get()
    bank, expense = books.account("1000"), books.account("6000")
    gl.entity_update(Actor.system(), entity_id=books.entity.id, approval_threshold_minor=10**9)

    def create(n, **extra):
        return lambda: gl.journal_entry_create(
            preparer,
            entity_id=books.entity.id,
            period_id=period.id,
            posting_date=today() - timedelta(days=n if days_back else 0),
            memo=f"entry {n}",
            lines=[
                LineInput(expense.id, "DEBIT", 100 + n, "USD"),
                LineInput(bank.id, "CREDIT", 100 + n, "USD"),
            ],
            **extra,
        )

    return create


def test_queued_journal_entries_are_created_and_posted_in_one_transaction_each(books):
    bank = books.account("1000")
    preparer = books.actor("integration", "API")
    create = entry_creator(books, preparer, days_back=True)

    drafts = queued_together([create(n) for n in range(5)], books.entity.id)
    assert all(isinstance(d, JournalEntry) and d.status == "DRAFT" for d in drafts), drafts
    assert [d.memo for d in drafts] == [f"entry {n}" for n in range(5)]
    assert written_in_one_transaction("journal_entry", [d.id for d in drafts])

    posted = queued_together(
        [lambda d=d: gl.journal_entry_submit(preparer, entry_id=d.id) for d in drafts]
        + [lambda: gl.journal_entry_submit(preparer, entry_id=drafts[0].id)],
        books.entity.id,
    )
    # drafts[0] is submitted twice: whichever call ran second is refused.
    twice = [posted[0], posted[5]]
    assert [e.status for e in posted[1:5]] == ["POSTED"] * 4
    assert sorted(type(r).__name__ for r in twice) == ["JournalEntry", "JournalEntryImmutable"]
    assert next(r for r in twice if isinstance(r, JournalEntry)).status == "POSTED"
    assert written_in_one_transaction("journal_entry", [d.id for d in drafts])
    bank_balance = AccountBalance.objects.get(account=bank)
    assert bank_balance.balance_minor == -sum(100 + n for n in range(5))
    assert (
        OutboxEvent.objects.filter(
            event_type="balance.updated", payload__account_id=str(bank.id)
        ).count()
        == 5
    )  # one change, version and event per posting
    assert_invariants_hold()


def test_queued_creates_with_submit_are_each_written_once_posted_or_waiting(books):
    """'Save and submit' in a batch: an entry is stored in the state its submission left it,
    with the audit rows and events of both steps, and no DRAFT row in its history."""
    bank = books.account("1000")
    preparer = books.actor("integration", "API")
    create = entry_creator(books, preparer)
    gl.entity_update(Actor.system(), entity_id=books.entity.id, approval_threshold_minor=102)

    entries = queued_together([create(n, submit=True) for n in range(4)], books.entity.id)

    assert [(e.memo, e.status) for e in entries] == [
        ("entry 0", "POSTED"),
        ("entry 1", "POSTED"),
        ("entry 2", "POSTED"),
        ("entry 3", "PENDING_APPROVAL"),
    ]
    ids = [e.id for e in entries]
    assert written_in_one_transaction("journal_entry", ids)
    stored = {e.id: e for e in JournalEntry.objects.filter(id__in=ids)}
    assert [stored[i].status for i in ids] == ["POSTED"] * 3 + ["PENDING_APPROVAL"]
    assert all(stored[i].auto_approved and stored[i].posted_at for i in ids[:3])
    assert stored[ids[3]].submitted_at is not None and stored[ids[3]].posted_at is None
    history = JournalEntry.history.filter(id__in=ids)
    assert sorted((h.history_type, h.status) for h in history) == sorted(
        [("+", "POSTED")] * 3 + [("+", "PENDING_APPROVAL")]
    )
    trail = AuditEvent.objects.filter(object_id__in=[str(i) for i in ids]).order_by("id")
    actions = {str(i): [a.action for a in trail if a.object_id == str(i)] for i in ids}
    posted_trail = [
        "ledger.journal_entry_create",
        "ledger.journal_entry_submit",
        "ledger.journal_entry_post",
    ]
    assert [actions[str(i)] for i in ids] == [posted_trail] * 3 + [posted_trail[:2]]
    events = OutboxEvent.objects.filter(event_type__startswith="gl.journal_entry.")
    assert sorted(events.values_list("event_type", flat=True)) == sorted(
        ["gl.journal_entry.created"] * 4
        + ["gl.journal_entry.posted"] * 3
        + ["gl.journal_entry.submitted"]
    )
    assert AccountBalance.objects.get(account=bank).balance_minor == -(100 + 101 + 102)
    assert_invariants_hold()


def test_queued_creates_and_submits_of_one_entity_are_answered_in_one_transaction(books):
    """The two commands share a queue: one batch answers both, each call by its command."""
    bank = books.account("1000")
    preparer = books.actor("integration", "API")
    create = entry_creator(books, preparer)

    drafts = [create(n)() for n in range(3)]
    answers = queued_together(
        [
            create(3),
            *(lambda d=d: gl.journal_entry_submit(preparer, entry_id=d.id) for d in drafts),
            create(4),
            lambda: gl.journal_entry_submit(preparer, entry_id=drafts[0].id),
        ],
        books.entity.id,
    )

    created = [answers[0], answers[4]]
    assert [(e.memo, e.status) for e in created] == [("entry 3", "DRAFT"), ("entry 4", "DRAFT")]
    submitted = [answers[1], answers[2], answers[3], answers[5]]
    # drafts[0] is submitted twice in the batch: whichever ran second is refused.
    assert sorted(type(r).__name__ for r in (submitted[0], submitted[3])) == [
        "JournalEntry",
        "JournalEntryImmutable",
    ]
    assert [e.status for e in submitted[1:3]] == ["POSTED", "POSTED"]
    assert written_in_one_transaction("journal_entry", [e.id for e in [*created, *drafts]])
    refused = AuditEvent.objects.get(outcome="REJECTED")
    assert (refused.action, refused.object_id) == ("ledger.journal_entry_submit", str(drafts[0].id))
    actions = AuditEvent.objects.filter(object_id__in=[str(e.id) for e in created])
    assert set(actions.values_list("action", flat=True)) == {"ledger.journal_entry_create"}
    assert AccountBalance.objects.get(account=bank).balance_minor == -(100 + 101 + 102)
    assert_invariants_hold()


@pytest.mark.parametrize("chain", ["global", "entity:3f2b8c1e-0d4a-4f6e-9b7a-2c5d8e1f0a9b"])
def test_the_lock_key_is_the_same_in_python_and_in_sql(chain):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rivane_chain_key(%s)", [chain])
        assert cursor.fetchone()[0] == chain_key(chain)


def queued_calls(chain: str, commands: list[str], how_many: int) -> list[int]:
    """The ids a leader of `chain` would lead with (migration 0011's read)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM rivane_queued_calls(%s, %s, interval '{QUEUED_FRESH_FOR}', %s)",
            [chain, commands, how_many],
        )
        return [pk for (pk,) in cursor.fetchall()]


class Waiting:
    """Callers waiting for their queued calls: each holds its call's lock, as `turns.wait`
    does, from a session of its own."""

    def __init__(self) -> None:
        self.conn = psycopg.connect(libpq_dsn(connection.settings_dict), autocommit=True)

    def hold(self, call_id: int) -> None:
        self.conn.execute("SELECT pg_advisory_lock(rivane_chain_key('call:' || %s))", [call_id])

    def close(self) -> None:
        self.conn.close()


def test_a_leader_reads_the_fresh_unanswered_calls_of_waiting_callers_oldest_first():
    chain, pay = "entity:3f2b8c1e-0d4a-4f6e-9b7a-2c5d8e1f0a9b", "payables.payment_submit"
    waiting = Waiting()
    ids = iter(range(1, 100))

    def queue(*, command: str = pay, on: str = chain, outcome=None, waited=True) -> int:
        call = QueuedCommand.objects.create(
            id=next(ids), chain=on, command=command, channel="API", arguments={}, outcome=outcome
        )
        if waited:
            waiting.hold(call.id)
        return call.id

    try:
        first, second = queue(), queue()
        queue(waited=False)  # its caller died or gave up
        queue(outcome={"result": {}})
        queue(command="ledger.journal_entry_create")
        queue(on="global")
        stale = queue()
        QueuedCommand.objects.filter(pk=stale).update(
            enqueued_at=timezone.now() - timedelta(minutes=1)
        )
        third = queue()

        assert queued_calls(chain, [pay], 10) == [first, second, third]
        assert queued_calls(chain, [pay], 1) == [first]
    finally:
        waiting.close()


def test_a_leader_reads_past_its_chain_s_answered_history_without_visiting_it():
    """A server that never vacuums keeps every answered call's dead row; the leader's
    read must not walk them (it did, through a bitmap scan, once a batch)."""
    chain = "entity:3f2b8c1e-0d4a-4f6e-9b7a-2c5d8e1f0a9b"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO queued_command (id, chain, command, channel, arguments, enqueued_at)"
            " SELECT n, %s, 'payables.payment_submit', 'API', '{}', now() - interval '1 minute'"
            "   FROM generate_series(1, 5000) AS n",
            [chain],
        )
        cursor.execute("DELETE FROM queued_command")
        queued_calls(chain, ["payables.payment_submit"], 63)  # plans it: catalog reads
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM rivane_queued_calls("
            f"%s, %s, interval '{QUEUED_FRESH_FOR}', 63)",
            [chain, ["payables.payment_submit"]],
        )
        (plan,) = cursor.fetchone()
        cursor.execute("SELECT pg_relation_size('queued_command') / 8192")
        (history_pages,) = cursor.fetchone()
    node = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
    assert history_pages > 100
    assert node["Shared Hit Blocks"] + node["Shared Read Blocks"] < 10


def test_saves_and_submits_mixed_with_submits_of_drafts_are_answered_in_one_transaction(books):
    """A batch that both creates-and-submits entries and submits stored drafts runs its
    commands in lock order (entries before balances), whichever call leads it."""
    bank = books.account("1000")
    preparer = books.actor("integration", "API")
    create = entry_creator(books, preparer)
    drafts = [create(n)() for n in range(2)]

    answers = queued_together(
        [
            create(2, submit=True),
            lambda: gl.journal_entry_submit(preparer, entry_id=drafts[0].id),
            create(3, submit=True),
            lambda: gl.journal_entry_submit(preparer, entry_id=drafts[1].id),
        ],
        books.entity.id,
    )

    assert [type(a).__name__ for a in answers] == ["JournalEntry"] * 4
    assert [a.status for a in answers] == ["POSTED"] * 4
    assert written_in_one_transaction("journal_entry", [a.id for a in answers])
    assert AccountBalance.objects.get(account=bank).balance_minor == -(100 + 101 + 102 + 103)
    assert_invariants_hold()
