"""`manage.py bench`: measure Rivane's money writes against the raw-SQL baseline.

Creates a throwaway database on the configured server, runs every scenario,
prints a table and writes JSON (bench-results/latest.json by default).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, connections
from django.utils import timezone

from ops import benchmark as bm
from ops.factories import UserFactory
from platform_integrity.db import database_url, libpq_dsn
from platform_integrity.web.auth import issue_token


class Command(BaseCommand):
    help = "Benchmark hot/cold payments and journal entries against a raw-SQL baseline."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="short levels; under 2 minutes")
        parser.add_argument("--writers", default="1,4,16,64")
        parser.add_argument("--seconds", type=float, default=None)
        parser.add_argument("--output", default="bench-results/latest.json")
        parser.add_argument("--keep-db", action="store_true")

    def handle(self, quick, writers, seconds, output, keep_db, **options):
        levels = [int(w) for w in writers.split(",")]
        seconds = seconds or (2.0 if quick else 8.0)
        read_lines = 100_000 if quick else 1_000_000
        db_name = f"rivane_bench_{os.getpid()}"
        base = dict(settings.DATABASES["default"])
        self._admin_sql(base, f'CREATE DATABASE "{db_name}"')
        settings.DATABASES["default"]["NAME"] = db_name
        connections.close_all()
        started = time.perf_counter()
        try:
            call_command("migrate", verbosity=0)
            report = self._run(levels, seconds, read_lines, quick)
        finally:
            connections.close_all()
            settings.DATABASES["default"]["NAME"] = base["NAME"]
            if not keep_db:
                self._admin_sql(base, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, default=str))
        self.stdout.write(f"\nwritten to {path} in {report['wall_seconds']} s")

    def _admin_sql(self, db: dict, sql: str) -> None:
        with psycopg.connect(libpq_dsn(db, "postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def _run(self, levels, seconds, read_lines, quick) -> dict:
        top = max(levels)
        hot = bm.make_books("Hot Inc.", bills=top)
        cold = [bm.make_books(f"Cold {n}", bills=1) for n in range(top)]
        gl_hot = bm.make_books("Hot GL Inc.")
        rows: list[bm.LevelResult] = []

        payment_inserts = bm.rows_inserted_by(lambda: bm.pay_once(hot, 0))
        entry_inserts = bm.rows_inserted_by(lambda: bm.journal_entry_once(gl_hot, 0))
        dsn = libpq_dsn(settings.DATABASES["default"])
        scenarios = [
            ("hot payments", bm.pay_once, lambda n: hot),
            (
                "raw SQL payment",
                bm.raw_writer_factory(dsn, ["vendor", "ap", "bank"], payment_inserts),
                lambda n: {},
            ),
            ("cold payments", bm.pay_once, lambda n: cold[n]),
            ("hot journal entries", bm.journal_entry_once, lambda n: gl_hot),
            (
                "raw SQL journal entry",
                bm.raw_writer_factory(dsn, ["debit", "credit"], entry_inserts),
                lambda n: {},
            ),
        ]
        bm.prepare_raw(["vendor", "ap", "bank", "debit", "credit"], top)
        # Level by level, each scenario next to its raw-SQL baseline: a ratio compares runs
        # seconds apart, not minutes, on a shared machine whose speed drifts.
        for writers in levels:
            for name, target, books_for in scenarios:
                bm.settle()
                result = bm.run_level(name, writers, seconds, target, books_for)
                rows.append(result)
                self._print_row(result)
        order = [name for name, _, _ in scenarios]
        rows.sort(key=lambda r: (order.index(r.scenario), r.writers))
        baseline = {
            "hot payments": "raw SQL payment",
            "cold payments": "raw SQL payment",
            "hot journal entries": "raw SQL journal entry",
        }
        by_key = {(r.scenario, r.writers): r for r in rows}
        for row in rows:
            raw = by_key.get((baseline.get(row.scenario), row.writers))
            if raw and raw.throughput:
                row.extra["ratio_to_raw"] = round(row.throughput / raw.throughput, 2)
        report = {
            "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
            "settings": {
                "seconds_per_level": seconds,
                "max_conflict_retries": settings.RIVANE_MAX_CONFLICT_RETRIES,
                "rows_inserted_per_payment": payment_inserts,
                "rows_inserted_per_journal_entry": entry_inserts,
            },
            "levels": [r.as_row() for r in rows],
        }
        report["big_entries"] = self._big_entries(quick)
        report["reads"] = self._reads(hot, read_lines)
        report["http"] = self._http(hot, quick)
        self._print_summary(report, rows)
        return report

    def _print_row(self, r: "bm.LevelResult") -> None:
        self.stdout.write(
            f"{r.scenario:24} {r.writers:>3} writers  {r.throughput:>8.1f}/s  "
            f"p50 {r.p50_ms:>7.2f} ms  p99 {r.p99_ms:>8.2f} ms  retries {r.conflict_retries:>5}  "
            f"503s {r.exhausted_503:>4}  errors {r.other_errors:>3}  "
            f"violations {r.invariant_violations}"
        )

    def _big_entries(self, quick: bool) -> dict:
        from ledger import commands as gl
        from ledger.lines import LineInput
        from platform_integrity.context import Actor

        books = bm.make_books("Big entries Ltd")
        gl.entity_update(bm_actor(), entity_id=books.entity_id, approval_threshold_minor=0)
        preparer = Actor(UserFactory(username="bench-preparer", roles=["accountant"]), "API")
        approver = Actor(UserFactory(username="bench-approver", roles=["approver"]), "API")
        figures = {}
        for size in (999, 10_000):
            timings = []
            for _ in range(1 if quick and size > 999 else 3):
                lines = [
                    LineInput(books.debit_account_id, "DEBIT", 100 + i, "USD")
                    for i in range(size - 1)
                ]
                lines.append(
                    LineInput(
                        books.credit_account_id, "CREDIT", sum(x.amount_minor for x in lines), "USD"
                    )
                )
                began = time.perf_counter()
                entry = gl.journal_entry_create(
                    preparer,
                    entity_id=books.entity_id,
                    period_id=books.period_id,
                    posting_date=timezone.localdate(),
                    lines=lines,
                )
                gl.journal_entry_submit(preparer, entry_id=entry.id)
                gl.journal_entry_approve(approver, entry_id=entry.id)
                timings.append(time.perf_counter() - began)
            figures[f"{size}_lines_create_submit_approve_s"] = round(bm.median(timings), 3)
            self.stdout.write(
                f"{size:>6}-line entry create+submit+approve: median {bm.median(timings):.3f} s"
            )
        return figures

    def _reads(self, hot: "bm.Books", lines: int) -> dict:
        """Load `lines` posted lines by SQL (balances kept equal), then time the reads."""
        from ledger.models import Entity
        from ledger.selectors import trial_balance

        entries, per_entry = max(1, lines // 1000), 1000
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH e AS (
                  INSERT INTO journal_entry (id, entity_id, period_id, status, posting_date, memo,
                      prepared_by_id, auto_approved, created_at, total_debit_minor,
                      functional_currency_code, line_count, rejection_reason_code,
                      rejection_reason, void_reason, source_type, source_id, contributor_ids,
                      submitted_at, routed_threshold_minor)
                  SELECT gen_random_uuid(), %(entity)s, %(period)s, 'DRAFT', %(day)s, 'bench load',
                         (SELECT id FROM auth_user WHERE username = 'bench'), true, now(),
                         %(per)s / 2, 'USD', %(per)s, '', '', '', 'MANUAL', '', '[]', now(),
                         (SELECT approval_threshold_minor FROM entity WHERE id = %(entity)s)
                    FROM generate_series(1, %(entries)s)
                  RETURNING id)
                INSERT INTO journal_entry_line (journal_entry_id, line_no, coa_account_id,
                    amount_minor, currency_code, functional_amount_minor,
                    functional_currency_code, direction, dimension_tags, memo)
                SELECT e.id, g, CASE WHEN g %% 2 = 0 THEN %(debit)s ELSE %(credit)s END, 1, 'USD',
                       1, 'USD', CASE WHEN g %% 2 = 0 THEN 'DEBIT' ELSE 'CREDIT' END, '{}', ''
                  FROM e, generate_series(1, %(per)s) g
                """,
                {
                    "entity": hot.entity_id,
                    "period": hot.period_id,
                    "day": timezone.localdate(),
                    "per": per_entry,
                    "entries": entries,
                    "debit": hot.debit_account_id,
                    "credit": hot.credit_account_id,
                },
            )
            cursor.execute(
                "UPDATE journal_entry SET status = 'POSTED', posted_at = now() "
                "WHERE memo = 'bench load'"
            )
            moved = entries * per_entry // 2
            cursor.execute(
                "UPDATE account_balance SET balance_minor = balance_minor + CASE account_id "
                "WHEN %s THEN %s ELSE -%s END, version = version + 1 WHERE account_id IN (%s, %s)",
                [hot.debit_account_id, moved, moved, hot.debit_account_id, hot.credit_account_id],
            )
            cursor.execute("SELECT count(*) FROM journal_entry_line")
            total_lines = cursor.fetchone()[0]
        bm.settle()
        entity = Entity.objects.get(pk=hot.entity_id)
        timings = []
        for _ in range(21):
            began = time.perf_counter()
            report = trial_balance(entity)
            timings.append(time.perf_counter() - began)
        assert report["total_debit_minor"] == report["total_credit_minor"]
        p50 = bm.median(timings) * 1000
        self.stdout.write(f"trial balance with {total_lines:,} lines: p50 {p50:.2f} ms")
        return {"posted_lines": total_lines, "trial_balance_p50_ms": round(p50, 2)}

    def _http(self, hot: "bm.Books", quick: bool) -> dict:
        """Hot payments through gunicorn and the API at 16 clients; balance reads over HTTP."""
        token = issue_token(UserFactory(username="bench-api", roles=["integration"]))
        port = free_port()
        db = settings.DATABASES["default"]
        env = {
            **os.environ,
            "DATABASE_URL": database_url(db),
            "RIVANE_MAX_CONFLICT_RETRIES": str(settings.RIVANE_MAX_CONFLICT_RETRIES),
            # Its clients speak plain HTTP on loopback: no redirect to TLS.
            "RIVANE_HTTPS": "0",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "4",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{base}/accounts/login/")
            seconds = 2.0 if quick else 8.0
            client = bm.HttpPayer(base, token)
            connections.close_all()
            result = bm.run_level("hot payments over HTTP", 16, seconds, client.pay, lambda n: hot)
            self._print_row(result)
            timings = []
            url = f"{base}/v1/accounts/{hot.credit_account_id}/balance"
            # Warm every server thread's connection first (its statements are prepared
            # after a few uses), as the writer levels do: steady state is what is timed.
            for _ in range(100):
                client.get(url)
            for _ in range(200):
                began = time.perf_counter()
                client.get(url)
                timings.append(time.perf_counter() - began)
            p50 = bm.median(timings) * 1000
            self.stdout.write(f"balance read over HTTP: p50 {p50:.2f} ms")
            return {**result.as_row(), "balance_read_p50_ms": round(p50, 2)}
        finally:
            server.terminate()
            server.wait(timeout=30)

    def _print_summary(self, report: dict, rows: list) -> None:
        self.stdout.write("\nscenario                 writers  ops/s    ratio-to-raw  503s")
        for r in rows:
            ratio = r.extra.get("ratio_to_raw", "")
            self.stdout.write(
                f"{r.scenario:24} {r.writers:>7} {r.throughput:>8.1f} {ratio!s:>12} "
                f"{r.exhausted_503:>5}"
            )


def bm_actor():
    from platform_integrity.context import Actor

    return Actor(user=bm.bench_user(), channel="SYSTEM")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout} s")
