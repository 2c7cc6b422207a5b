"""Conflict-retry counters per row, kept in PostgreSQL so every process adds to one table."""

from django.db import connection


def record(rows: list[tuple[str, str]], *, exhausted: bool) -> None:
    """Count one conflict retry (or exhaustion) against each row the attempt was locking.

    Runs in autocommit after the failed transaction rolled back.
    """
    distinct = sorted(set(rows))
    with connection.cursor() as cursor:
        cursor.executemany(
            """
            INSERT INTO contention_counter (table_name, row_id, retries, exhausted, last_seen_at)
            VALUES (%s, %s, 1, %s, now())
            ON CONFLICT (table_name, row_id) DO UPDATE SET
                retries = contention_counter.retries + 1,
                exhausted = contention_counter.exhausted + EXCLUDED.exhausted,
                last_seen_at = now()
            """,
            [(table, row_id, int(exhausted)) for table, row_id in distinct],
        )
