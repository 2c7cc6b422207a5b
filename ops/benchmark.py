"""The benchmark behind `manage.py bench`: hot and cold money writes at 1-64 writers,
the raw-SQL baseline for the same row changes, big entries and reads.

Writers are forked processes (each with its own database connection), so the
figures include real lock queues and conflicts, not the GIL. Every level ends
with `verify_integrity`'s invariants.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import timezone

from ledger import commands as gl
from ledger.lines import LineInput
from ops import factories
from payables import commands as ap
from platform_integrity.context import Actor
from platform_integrity.errors import ConcurrencyRetryExhausted, DomainError
from platform_integrity.integrity import run_all
from platform_integrity.models import ContentionCounter
from platform_integrity.roles import ROLES

BILL_TOTAL_MINOR = 10**12  # paid one cent at a time, so no writer ever runs out of bill
WARM_UP_CALLS = 6


@dataclass
class LevelResult:
    scenario: str
    writers: int
    operations: int = 0
    seconds: float = 0.0
    throughput: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    conflict_retries: int = 0
    exhausted_503: int = 0
    other_errors: int = 0
    invariant_violations: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Books:
    entity_id: uuid.UUID
    period_id: uuid.UUID
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    vendor_id: uuid.UUID | None = None
    bill_ids: list[uuid.UUID] = field(default_factory=list)


@functools.cache
def bench_user():
    """One lookup per writer process: the baseline does no user lookup either. The bench
    sets its books up and pays through the same permission checks as anyone, so its
    user holds every role."""
    user = factories.UserFactory(username="bench", roles=ROLES)
    return get_user_model().objects.get(pk=user.pk)


def make_books(name: str, *, bills: int = 0) -> Books:
    """An entity with accounts, an open period around today and, if asked, a vendor with bills."""
    actor = Actor(user=bench_user(), channel="SYSTEM")
    today = timezone.localdate()
    made = factories.BooksFactory(
        actor=actor,
        name=name,
        approval_threshold_minor=10**15,
        period__name="bench",
        period__start_date=date(today.year, 1, 1),
        period__end_date=date(today.year, 12, 31),
    )
    expense = made.account("6000").id
    books = Books(made.entity.id, made.period.id, expense, made.account("1000").id)
    if bills:
        vendor = factories.VendorFactory(actor=actor, entity=made.entity, name="Hot vendor")
        books.vendor_id = vendor.id
        for n in range(bills):
            bill = factories.BillFactory(
                actor=actor,
                vendor=vendor,
                number=f"B-{n}",
                bill_date=today,
                due_date=today,
                lines=[{"coa_account_id": expense, "amount_minor": BILL_TOTAL_MINOR}],
            )
            books.bill_ids.append(bill.id)
    return books


def pay_once(books: Books, writer: int) -> None:
    actor = Actor(user=bench_user(), channel="API")
    ap.payment_submit(
        actor,
        bill_id=books.bill_ids[writer % len(books.bill_ids)],
        amount_minor=1,
        currency_code="USD",
        post=True,
    )


def journal_entry_once(books: Books, writer: int) -> None:
    actor = Actor(user=bench_user(), channel="API")
    gl.journal_entry_create(
        actor,
        entity_id=books.entity_id,
        period_id=books.period_id,
        posting_date=timezone.localdate(),
        lines=[
            LineInput(books.debit_account_id, "DEBIT", 100, "USD"),
            LineInput(books.credit_account_id, "CREDIT", 100, "USD"),
        ],
        submit=True,
    )


def _writer(
    target: Callable[[Any, int], None],
    books_for: Callable[[int], Any],
    writer: int,
    warm_up: Any,
    ready: Any,
    start: Any,
    seconds: float,
    results: Any,
) -> None:
    connections.close_all()
    # What the writer inherits from the bench (settings, models, the migrations' state)
    # lives as long as it does: frozen, a full collection walks only what the writer
    # made (milliseconds, not the 100-140 ms that stalled every writer queued behind
    # a lock held across it).
    gc.freeze()
    books = books_for(writer)
    latencies: list[float] = []
    exhausted = errors = 0
    # Untimed calls first, one writer at a time, so that each leads its own: when the
    # clock starts, its connection has prepared every statement of the path (psycopg
    # prepares a statement on its sixth run) and its server process has read the
    # catalog and planned the triggers that path touches. A level measures steady
    # state, as of a server's long-lived connections, not 64 cold starts.
    with warm_up:
        for _ in range(WARM_UP_CALLS):
            with contextlib.suppress(DomainError):  # outcomes count once the clock runs
                target(books, writer)
    ready.wait()
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        try:
            target(books, writer)
            latencies.append(time.perf_counter() - began)
        except ConcurrencyRetryExhausted:
            exhausted += 1
        except DomainError:
            errors += 1
    connections.close_all()
    results.put((latencies, exhausted, errors))


def total_retries() -> int:
    return sum(ContentionCounter.objects.values_list("retries", flat=True))


def run_level(
    scenario: str,
    writers: int,
    seconds: float,
    target: Callable[[Any, int], None],
    books_for: Callable[[int], Any],
) -> LevelResult:
    """Fork `writers` processes that call `target` until the time is up; then check invariants."""
    ctx = multiprocessing.get_context("fork")
    start, results, ready = ctx.Event(), ctx.Queue(), ctx.Barrier(writers + 1)
    warm_up = ctx.Lock()
    retries_before = total_retries()
    connections.close_all()
    procs = [
        ctx.Process(
            target=_writer, args=(target, books_for, n, warm_up, ready, start, seconds, results)
        )
        for n in range(writers)
    ]
    for proc in procs:
        proc.start()
    ready.wait(timeout=120)
    began = time.perf_counter()
    start.set()
    collected = [results.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    latencies = sorted(lat for lats, _, _ in collected for lat in lats)
    violations = sum(len(v) for v in run_all().values())
    return LevelResult(
        scenario=scenario,
        writers=writers,
        operations=len(latencies),
        seconds=round(elapsed, 2),
        throughput=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 50) * 1000, 2),
        p99_ms=round(percentile(latencies, 99) * 1000, 2),
        conflict_retries=total_retries() - retries_before,
        exhausted_503=sum(e for _, e, _ in collected),
        other_errors=sum(e for _, _, e in collected),
        invariant_violations=violations,
    )


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def settle() -> None:
    """Vacuum between levels so dead tuples from one level do not tax the next."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# The raw-SQL baseline -------------------------------------------------------------------

RAW_SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_parent (id text PRIMARY KEY, balance bigint NOT NULL,
                                         version bigint NOT NULL);
CREATE TABLE IF NOT EXISTS bench_child (id bigserial PRIMARY KEY, parent_id text NOT NULL,
                                        amount bigint NOT NULL, payload jsonb NOT NULL);
"""


def rows_inserted_by(operation: Callable[[], None]) -> int:
    """How many rows one Rivane operation inserts, over every table (counted, not guessed)."""
    tables_sql = (
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename NOT LIKE 'bench_%'"
    )

    def count_all() -> int:
        with connection.cursor() as cursor:
            cursor.execute(tables_sql)
            tables = [t for (t,) in cursor.fetchall()]
            cursor.execute("SELECT " + " + ".join(f'(SELECT count(*) FROM "{t}")' for t in tables))
            return cursor.fetchone()[0]

    before = count_all()
    operation()
    return count_all() - before


def raw_writer_factory(dsn: str, hot_parents: list[str], inserts: int) -> Callable:
    """The same row changes as one Rivane operation, by hand: READ COMMITTED, one multi-row
    INSERT for the children, then `x = x + d` on the parents in a fixed order."""

    def raw_once(state: dict, writer: int) -> None:
        import psycopg

        conn = state.get("conn")
        if conn is None:
            conn = state["conn"] = psycopg.connect(dsn)
        parents = sorted([*hot_parents, f"bill-{writer}"])
        with conn.transaction():
            conn.execute(
                "INSERT INTO bench_child (parent_id, amount, payload) "
                'SELECT %s, 1, \'{"event": "bench"}\'::jsonb FROM generate_series(1, %s)',
                [parents[0], inserts],
            )
            for parent in parents:
                conn.execute(
                    "UPDATE bench_parent SET balance = balance + 1, version = version + 1 "
                    "WHERE id = %s",
                    [parent],
                )

    return raw_once


def prepare_raw(hot_parents: list[str], writers: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(RAW_SCHEMA)
        cursor.execute("TRUNCATE bench_child")
        ids = [*hot_parents, *(f"bill-{n}" for n in range(writers))]
        cursor.executemany(
            "INSERT INTO bench_parent VALUES (%s, 0, 0) ON CONFLICT (id) DO NOTHING",
            [(i,) for i in ids],
        )


def raw_lost_updates() -> int:
    """Baseline check: each parent's balance equals the children written against it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(version) - sum(balance) FROM bench_parent")
        return int(cursor.fetchone()[0] or 0)


class HttpPayer:
    """A client of the payments API; one keep-alive connection per writer process."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.conn = None

    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        import http.client
        import json
        from urllib.parse import urlparse

        if self.conn is None:
            url = urlparse(self.base)
            self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        self.conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def pay(self, books: Books, writer: int) -> None:
        status, body = self._request(
            "POST",
            "/v1/payments",
            {
                "bill_id": str(books.bill_ids[writer % len(books.bill_ids)]),
                "amount_minor": 1,
                "currency_code": "USD",
                "post": True,
            },
        )
        if status == 503:
            raise ConcurrencyRetryExhausted("503 from the API")
        if status != 201:
            raise DomainError(f"HTTP {status}: {body[:200]!r}")

    def get(self, url: str) -> None:
        from urllib.parse import urlparse

        status, _ = self._request("GET", urlparse(url).path)
        assert status == 200
