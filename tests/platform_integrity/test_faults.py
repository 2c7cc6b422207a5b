"""Real faults against the guarded unit of work: a session that holds a row or an entity
and never lets go, a waiting caller cancelled, every connection killed mid-burst, a
queued caller killed. Nothing hangs past its bound, nothing answers 500, nothing is
lost or done twice, and no lock outlives its transaction."""

import multiprocessing
import os
import signal
import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection, connections

from ledger.models import AccountBalance
from payables import commands
from payables.models import Bill, Payment
from platform_integrity.db import libpq_dsn
from platform_integrity.errors import LockTimeout
from platform_integrity.models import QueuedCommand
from platform_integrity.turns import chain_key
from platform_integrity.unit import chain_for
from tests.payables.conftest import api_client, assert_invariants_hold, make_bill, make_books

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_entities(transactional_db):
    return make_books(), make_books()


def side_session() -> psycopg.Connection:
    """A session of its own, as an operator's psql would be."""
    return psycopg.connect(libpq_dsn(connection.settings_dict))


def pay_body(bill, **extra) -> dict:
    return {
        "bill_id": str(bill.id),
        "amount_minor": bill.balance_due_minor,
        "currency_code": bill.currency_code,
        "post": True,
        **extra,
    }


def advisory_locks() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, mode, granted FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchall()


def wait_for(condition, seconds: float = 20, what: str = "the condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_balance_row_held_by_a_stuck_session_is_a_quick_503_and_other_entities_go_on(
    two_entities, settings
):
    stuck_books, other_books = two_entities
    stuck_bill, other_bill = make_bill(stuck_books), make_bill(other_books)
    api = api_client(stuck_books.users["integration"])
    other_api = api_client(other_books.users["integration"])
    stuck = side_session()
    stuck.execute(
        "SELECT 1 FROM account_balance WHERE account_id = %s FOR UPDATE",
        [stuck_books.account("1000").id],
    )
    try:
        began = time.monotonic()
        refused = api.post("/v1/payments", pay_body(stuck_bill), format="json")
        waited = time.monotonic() - began
        other_began = time.monotonic()
        paid = other_api.post("/v1/payments", pay_body(other_bill), format="json")
        other_waited = time.monotonic() - other_began
    finally:
        stuck.rollback()
        stuck.close()

    assert refused.status_code == 503, refused.content
    assert refused.json()["code"] == "lock_timeout"
    assert refused["Retry-After"] == "1"
    assert waited < settings.RIVANE_LOCK_TIMEOUT_MS / 1000 + 3
    assert paid.status_code == 201 and paid.json()["status"] == "POSTED"
    assert other_waited < 2
    assert not Payment.objects.filter(bill=stuck_bill).exists()
    assert_invariants_hold()


def test_an_entity_held_by_a_stuck_transaction_is_a_503_within_the_turn_bound(
    two_entities, settings
):
    settings.RIVANE_TURN_TIMEOUT_MS = 1500
    stuck_books, other_books = two_entities
    stuck_bill, other_bill = make_bill(stuck_books), make_bill(other_books)
    stuck = side_session()
    stuck.execute("SELECT pg_advisory_xact_lock(%s)", [chain_key(chain_for(stuck_books.entity.id))])
    try:
        began = time.monotonic()
        refused = api_client(stuck_books.users["integration"]).post(
            "/v1/payments", pay_body(stuck_bill), format="json"
        )
        waited = time.monotonic() - began
        paid = api_client(other_books.users["integration"]).post(
            "/v1/payments", pay_body(other_bill), format="json"
        )
    finally:
        stuck.rollback()
        stuck.close()

    assert refused.status_code == 503 and refused.json()["code"] == "lock_timeout"
    assert refused["Retry-After"] == "1"
    assert 1.4 < waited < 5
    assert paid.status_code == 201
    # Its queued call was withdrawn: nobody runs it later.
    assert not QueuedCommand.objects.exists()
    assert not Payment.objects.filter(bill=stuck_bill).exists()
    again = api_client(stuck_books.users["integration"]).post(
        "/v1/payments", pay_body(stuck_bill), format="json"
    )
    assert again.status_code == 201
    assert_invariants_hold()


def test_a_caller_cancelled_while_it_waits_holds_no_lock_and_its_call_never_runs(two_entities):
    books, _ = two_entities
    bill, later = make_bill(books, number="INV-C"), make_bill(books, number="INV-D")
    holder = side_session()
    holder.execute("SELECT pg_advisory_xact_lock(%s)", [chain_key(chain_for(books.entity.id))])
    outcome: list = []

    def pay() -> None:
        try:
            outcome.append(commands.payment_submit(books.actor("clerk", "API"), bill_id=bill.id))
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    caller = threading.Thread(target=pay)
    caller.start()
    try:
        with connection.cursor() as cursor:

            def waiting_backend():
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE query LIKE '%%rivane_wait_turn%%'"
                    " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                )
                return cursor.fetchone()

            wait_for(lambda: waiting_backend() is not None, what="the caller to wait in line")
            (pid,) = waiting_backend()
            cursor.execute("SELECT pg_cancel_backend(%s)", [pid])
        caller.join(timeout=30)
        assert len(outcome) == 1 and isinstance(outcome[0], LockTimeout), outcome
        # Only the holder's lock is left: the cancelled caller kept none.
        assert {(mode, granted) for _, mode, granted in advisory_locks()} == {
            ("ExclusiveLock", True)
        }
    finally:
        holder.rollback()
        holder.close()

    assert advisory_locks() == []
    assert commands.payment_submit(books.actor("clerk", "API"), bill_id=later.id).status
    assert not Payment.objects.filter(bill=bill).exists()
    assert not QueuedCommand.objects.exists()
    assert_invariants_hold()


def _pay_then_die(bill_id: str, ready) -> None:
    """A caller in a forked process: it queues behind the held entity and waits."""
    connections.close_all()
    from payables.commands import payment_submit as submit
    from platform_integrity.context import Actor

    user = Bill.objects.get(pk=bill_id).created_by
    ready.set()
    submit(Actor(user, "API"), bill_id=bill_id)


def test_a_queued_caller_killed_while_it_waits_is_never_run(two_entities):
    books, _ = two_entities
    doomed, later = make_bill(books, number="INV-K"), make_bill(books, number="INV-L")
    holder = side_session()
    holder.execute("SELECT pg_advisory_xact_lock(%s)", [chain_key(chain_for(books.entity.id))])
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    connections.close_all()
    child = context.Process(target=_pay_then_die, args=(str(doomed.id), ready))
    child.start()
    try:
        assert ready.wait(30)
        wait_for(QueuedCommand.objects.exists, what="the call to queue")
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
    finally:
        holder.rollback()
        holder.close()

    # The next leader of the entity runs its own call, never the dead caller's.
    payment = commands.payment_submit(books.actor("clerk", "API"), bill_id=later.id, post=True)
    assert payment.status == "POSTED"
    assert not Payment.objects.filter(bill=doomed).exists()
    doomed.refresh_from_db()
    assert (doomed.balance_due_minor, doomed.in_flight_payment_id) == (doomed.total_minor, None)
    assert advisory_locks() == []
    assert_invariants_hold()


def test_killing_every_connection_mid_burst_never_gives_a_500_and_retries_pay_once(
    two_entities,
):
    books, _ = two_entities
    bills = [make_bill(books, 10_000 + n, number=f"INV-B{n}") for n in range(16)]
    keys = {bill.id: f"burst-{uuid.uuid4()}" for bill in bills}
    statuses: list[int] = []
    stop = threading.Event()
    clients = {bill.id: api_client(books.users["integration"]) for bill in bills}

    def pay(bill) -> None:
        api = clients[bill.id]
        try:
            for _ in range(30):
                response = api.post(
                    "/v1/payments",
                    pay_body(bill),
                    format="json",
                    HTTP_IDEMPOTENCY_KEY=keys[bill.id],
                )
                statuses.append(response.status_code)
                if response.status_code != 503:
                    return
                assert response["Retry-After"] and response.json()["code"] in (
                    "database_unavailable",
                    "lock_timeout",
                    "concurrency_retry_exhausted",
                )
                time.sleep(0.05)
        finally:
            connection.close()

    def kill_everyone() -> None:
        killer = psycopg.connect(libpq_dsn(connection.settings_dict), autocommit=True)
        try:
            while not stop.is_set():
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                )
                time.sleep(0.03)
        finally:
            killer.close()

    killer = threading.Thread(target=kill_everyone)
    payers = [threading.Thread(target=pay, args=(bill,)) for bill in bills]
    killer.start()
    for payer in payers:
        payer.start()
    time.sleep(1.0)
    stop.set()
    killer.join(timeout=30)
    for payer in payers:
        payer.join(timeout=120)

    assert 500 not in statuses
    assert set(statuses) <= {201, 503}
    connection.close()
    for bill in bills:
        assert Payment.objects.filter(bill=bill).count() == 1
        assert Bill.objects.get(pk=bill.id).balance_due_minor == 0
    paid = sum(bill.total_minor for bill in bills)
    assert AccountBalance.objects.get(account=books.account("1000")).balance_minor == -paid
    assert_invariants_hold()
