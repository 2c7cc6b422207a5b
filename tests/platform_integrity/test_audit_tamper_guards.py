"""The audit log against its own database's owner: what the database refuses, what the
app role may do, and what `verify_audit_chain` catches when the guards are switched off."""

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from platform_integrity import audit, audit_chain
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.db import libpq_dsn
from platform_integrity.models import AuditChainHead, AuditEvent, OutboxEvent
from platform_integrity.relay import relay_pending
from tests.conftest import assert_invariants_hold, make_books, posted_entry

ROOT = Path(__file__).resolve().parents[2]


def refused(statement: str, params: list | None = None, match: str = "") -> None:
    with (
        pytest.raises(DatabaseError, match=match),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, params)


@pytest.mark.django_db
def test_the_owner_cannot_truncate_the_audit_log_or_its_chain_heads():
    make_books()
    rows, heads = AuditEvent.objects.count(), AuditChainHead.objects.count()
    refused("TRUNCATE audit_event", match="append-only: TRUNCATE refused")
    refused("TRUNCATE audit_chain_head", match="only moves forward: TRUNCATE refused")
    assert (AuditEvent.objects.count(), AuditChainHead.objects.count()) == (rows, heads)


@pytest.mark.django_db
def test_a_chain_head_only_moves_forward():
    make_books()
    head = AuditChainHead.objects.order_by("-head_id").first()
    earlier = AuditEvent.objects.filter(chain=head.chain).order_by("-id")[1]
    refused("DELETE FROM audit_chain_head", match="only moves forward: DELETE refused")
    for head_id in (earlier.id, head.head_id):
        refused(
            "UPDATE audit_chain_head SET head_id = %s, head_hash = %s WHERE chain = %s",
            [head_id, earlier.hash, head.chain],
            match=f"chain {head.chain} from #{head.head_id} to #{head_id} refused",
        )
    refused(
        "UPDATE audit_chain_head SET chain = 'elsewhere', head_id = head_id + 1 WHERE chain = %s",
        [head.chain],
        match="only moves forward",
    )
    stored = AuditChainHead.objects.values_list("head_id", "head_hash")
    assert stored.get(chain=head.chain) == (head.head_id, head.head_hash)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_chain_head SET head_id = head_id + 1 WHERE chain = %s", [head.chain]
        )
    assert stored.get(chain=head.chain) == (head.head_id + 1, head.head_hash)


@command("test.audit_payload")
def audit_payload(actor: Actor, *, payload: dict) -> None:
    audit.record(action="test.audit_payload", object_type="test", object_id="1", payload=payload)


NUMBERS = [1e16, -1e16, 1.5e-7, 0.1, 100.0, -0.0, 1e20, 1e300, 5e-324, 2**53 + 1, 2**63 - 1]


@pytest.mark.django_db
def test_numbers_hash_the_same_as_written_and_as_read_back_from_jsonb():
    written = {"numbers": NUMBERS, "rate": Decimal("1.2500"), "nested": {"ratio": 1e16}}
    audit_payload(Actor.system(), payload=written)
    row = AuditEvent.objects.values().get(action="test.audit_payload")
    assert row["payload"]["numbers"][0] == 10**16 and row["payload"]["rate"] == "1.2500"
    fields = audit.hashed_fields(row)
    for as_written, read_back in zip(NUMBERS, row["payload"]["numbers"], strict=True):
        assert audit.chain_hash("", {**fields, "payload": [as_written]}) == audit.chain_hash(
            "", {**fields, "payload": [read_back]}
        ), f"{as_written!r} read back as {read_back!r}"
    assert audit.chain_hash(row["prev_hash"], fields) == row["hash"]
    assert audit_chain.verify_chains().problems == []


def forge(chain: str, rehash) -> None:
    """Rewrite the first row of a chain and re-hash the chain after it, as the database's
    owner would with the triggers off."""
    rows = list(AuditEvent.objects.filter(chain=chain).order_by("id").values())
    rows[0]["actor"] = "mallory"
    prev_hash = ""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for row in rows:
            row["prev_hash"], row["hash"] = prev_hash, rehash(prev_hash, audit.hashed_fields(row))
            AuditEvent.objects.filter(pk=row["id"]).update(
                actor=row["actor"], prev_hash=row["prev_hash"], hash=row["hash"]
            )
            prev_hash = row["hash"]
        AuditChainHead.objects.filter(chain=chain).update(head_hash=prev_hash)
        cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.mark.django_db
def test_an_owner_without_the_key_cannot_rewrite_a_chain_that_verifies(settings):
    books = make_books()
    chain = f"entity:{books.entity.id}"
    forge(chain, audit.legacy_chain_hash)
    assert audit_chain.verify_chains().problems == [
        f"chain {chain}: no row of it carries the keyed hash (not written here)"
    ]

    key = settings.RIVANE_AUDIT_KEY
    settings.RIVANE_AUDIT_KEY = "a guess at the key"
    forge(chain, audit.chain_hash)
    settings.RIVANE_AUDIT_KEY = key
    problems = audit_chain.verify_chains().problems
    assert problems == [
        *(
            f"audit #{number} ({chain}): hash does not match its content"
            for number in AuditEvent.objects.filter(chain=chain)
            .order_by("id")
            .values_list("id", flat=True)
        ),
        f"chain {chain}: no row of it carries the keyed hash (not written here)",
    ]


def legacy_log(chain: str, payloads: list[dict]) -> list[AuditEvent]:
    """Rows as they were written before the audit key: hashed unkeyed, as written."""
    rows, prev_hash = [], ""
    for payload in payloads:
        row = {
            "chain": chain,
            "occurred_at": timezone.now(),
            "actor": "alice",
            "channel": "API",
            "ip": "203.0.113.7",
            "action": "ledger.journal_entry_create",
            "object_type": "journal_entry",
            "object_id": "1",
            "outcome": "ACCEPTED",
            "reason_code": "",
            "payload": audit.canonical(payload),
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = audit.legacy_chain_hash(prev_hash, audit.hashed_fields(row))
        rows.append(AuditEvent.objects.create(**row))
    AuditChainHead.objects.create(chain=chain, head_hash=prev_hash, head_id=rows[-1].id)
    return rows


@pytest.mark.django_db
def test_rows_hashed_before_the_key_still_verify_once_sealed_under_it():
    chain = "entity:00000000-0000-0000-0000-00000000000a"
    rows = legacy_log(chain, [{"amount_minor": 1_000}, {"ratio": 1e16}, {"lines": 2}])
    assert audit_chain.verify_chains().problems == [
        f"chain {chain}: no row of it carries the keyed hash (not written here)"
    ]

    assert audit_chain.seal_legacy_chains() == [chain]
    assert audit_chain.seal_legacy_chains() == []
    seal = AuditEvent.objects.get(chain=chain, action="platform_integrity.audit_chain_seal")
    assert seal.prev_hash == rows[-1].hash and seal.payload == {"unkeyed_up_to": rows[-1].id}
    audit_payload(Actor.system(), payload={})
    assert audit_chain.verify_chains().problems == []

    # Rewritten and re-hashed the old way, the unkeyed rows no longer link to the seal.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        legacy_rows = AuditEvent.objects.filter(chain=chain).exclude(pk=seal.pk)
        AuditEvent.objects.filter(pk=rows[0].pk).update(actor="mallory")
        prev_hash = ""
        for row in legacy_rows.order_by("id").values():
            row["prev_hash"] = prev_hash
            prev_hash = audit.legacy_chain_hash(prev_hash, audit.hashed_fields(row))
            legacy_rows.filter(pk=row["id"]).update(prev_hash=row["prev_hash"], hash=prev_hash)
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert audit_chain.verify_chains().problems == [
        f"audit #{seal.id} ({chain}): prev_hash does not link"
    ]


def connect_as(role: str) -> psycopg.Connection:
    return psycopg.connect(
        libpq_dsn({**connection.settings_dict, "USER": role, "PASSWORD": ""}), autocommit=True
    )


@pytest.mark.django_db
def test_the_app_role_reads_and_appends_to_the_audit_log_and_can_rewrite_nothing(settings):
    role = settings.RIVANE_APP_ROLE
    with connect_as(role) as app:
        assert app.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        for statement in (
            "UPDATE audit_event SET actor = 'mallory'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
            "DELETE FROM audit_chain_head",
            "TRUNCATE audit_chain_head",
            "TRUNCATE journal_entry CASCADE",
            "DELETE FROM django_migrations",
            "ALTER TABLE audit_event DISABLE TRIGGER ALL",
            "SET session_replication_role = replica",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
        with app.transaction(force_rollback=True):
            app.execute(
                "INSERT INTO audit_event (chain, occurred_at, actor, channel, action, object_type,"
                " object_id, outcome, reason_code, payload, prev_hash, hash)"
                " VALUES ('probe', now(), 'x', 'API', 'x', 'x', '', 'ACCEPTED', '', '{}', '', '')"
            )
            assert app.execute(
                "SELECT count(*) FROM audit_event WHERE chain = 'probe'"
            ).fetchone() == (1,)


@pytest.mark.django_db
def test_the_app_role_may_use_every_table_and_truncate_none(settings):
    role = settings.RIVANE_APP_ROLE
    with connection.cursor() as cursor:
        # A table a later migration creates, as the owner running migrations.
        cursor.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY)")
        cursor.execute(
            """
            SELECT c.relname,
                   has_table_privilege(%(role)s, c.oid, 'SELECT'),
                   has_table_privilege(%(role)s, c.oid, 'INSERT'),
                   has_table_privilege(%(role)s, c.oid, 'UPDATE'),
                   has_table_privilege(%(role)s, c.oid, 'DELETE'),
                   has_table_privilege(%(role)s, c.oid, 'TRUNCATE, REFERENCES, TRIGGER')
              FROM pg_class c
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
            """,
            {"role": role},
        )
        grants = {name: rights for name, *rights in cursor.fetchall()}
        cursor.execute("SELECT has_sequence_privilege(%s, 'later_table_id_seq', 'USAGE')", [role])
        assert cursor.fetchone() == (True,)
    assert grants.pop("audit_event") == [True, True, False, False, False]
    assert grants.pop("audit_chain_head") == [True, True, True, False, False]
    assert grants.pop("django_migrations") == [True, False, False, False, False]
    assert grants["later_table"] == [True, True, True, True, False]
    assert {rights == [True, True, True, True, False] for rights in grants.values()} == {True}


@pytest.mark.django_db
def test_commands_the_relay_and_the_anchor_run_as_the_app_role(settings, tmp_path):
    settings.RIVANE_EVENT_STREAM = "rivane:test-app-role"
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {connection.ops.quote_name(settings.RIVANE_APP_ROLE)}")
    books = make_books()
    posted_entry(books, 1_000)
    assert_invariants_hold()
    call_command("verify_audit_chain", "--anchor", tmp_path / "anchor.json")
    events = OutboxEvent.objects.count()
    try:
        assert events and relay_pending() == events
    finally:
        redis.Redis.from_url(settings.REDIS_URL).delete(settings.RIVANE_EVENT_STREAM)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (settings.RIVANE_APP_ROLE,)


def test_make_run_migrates_as_the_owner_and_serves_as_the_app_role():
    script = (ROOT / "scripts" / "run.sh").read_text()
    helper = re.search(r"^as_app_role\(\) \{.*?^\}\n", script, re.DOTALL | re.MULTILINE)[0]
    urls = {
        "postgresql://postgres@/rivane?host=/srv/var/pg&port=5433": (
            "postgresql://rivane_app@/rivane?host=/srv/var/pg&port=5433"
        ),
        "postgresql://postgres@127.0.0.1:5432/rivane": "postgresql://rivane_app@127.0.0.1:5432/rivane",
        "postgres://owner:s%40cret@db.example.com/rivane?sslmode=require": (
            "postgres://rivane_app@db.example.com/rivane?sslmode=require"
        ),
    }
    for owner, app in urls.items():
        derived = subprocess.run(
            ["bash", "-c", f'{helper}RIVANE_APP_ROLE=rivane_app; as_app_role "$1"', "-", owner],
            capture_output=True,
            text=True,
            check=True,
        )
        assert derived.stdout.strip() == app
    migrate = script.index('DATABASE_URL=$owner_url "$BIN/python" manage.py migrate --noinput')
    assert script.index("unset DATABASE_OWNER_URL") < migrate < script.index('"$BIN/gunicorn"')


def verify(capsys, *args) -> tuple[str, str]:
    """`verify_audit_chain`'s report, and its error when it exits non-zero."""
    try:
        call_command("verify_audit_chain", *args)
    except CommandError as failed:
        return capsys.readouterr().out, str(failed)
    return capsys.readouterr().out, ""


@pytest.mark.django_db
def test_anchored_heads_catch_a_truncated_log_and_deleted_chain_heads(capsys, tmp_path):
    books = make_books()
    audit_payload(Actor.system(), payload={"ratio": 1e16, "rate": 1.5e-7})
    anchor = tmp_path / "audit-anchor.json"
    report, failed = verify(capsys, "--anchor", anchor)
    assert "Audit chain intact" in report and "No earlier anchor" in report and not failed
    anchored = json.loads(anchor.read_text())
    entity_chain = f"entity:{books.entity.id}"
    assert {head["chain"] for head in anchored["heads"]} == {"global", entity_chain}
    published = OutboxEvent.objects.get(event_type="audit.anchored").payload
    assert published["heads"] == anchored["heads"]

    with connection.cursor() as cursor:  # the owner, guards off
        cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER ALL")
        cursor.execute("ALTER TABLE audit_chain_head DISABLE TRIGGER ALL")
        cursor.execute("TRUNCATE audit_event")
        cursor.execute("DELETE FROM audit_chain_head")
        cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER ALL")
        cursor.execute("ALTER TABLE audit_chain_head ENABLE TRIGGER ALL")
    assert "Audit chain intact (0 rows)" in verify(capsys)[0]

    report, failed = verify(capsys, "--anchor", anchor)
    assert failed == f"audit chain broken: 2 problem(s); {anchor} is left as it was"
    for head in anchored["heads"]:
        assert (
            f"- chain {head['chain']}: its anchored head #{head['head_id']} is gone"
            f" ({head['rows']} rows up to it at the anchor, no rows now)"
        ) in report
    assert json.loads(anchor.read_text()) == anchored


@pytest.mark.django_db
def test_anchored_heads_catch_rows_cut_from_the_end_and_the_head_moved_back(capsys, tmp_path):
    books = make_books()
    posted_entry(books, 1_000)
    anchor = tmp_path / "audit-anchor.json"
    verify(capsys, "--anchor", anchor)
    posted_entry(books, 2_000)
    assert "Every head anchored at" in verify(capsys, "--anchor", anchor)[0]
    anchored = {head["chain"]: head for head in json.loads(anchor.read_text())["heads"]}
    chain = f"entity:{books.entity.id}"
    head = anchored[chain]

    kept = AuditEvent.objects.filter(chain=chain, id__lt=head["head_id"]).order_by("-id")[2]
    with connection.cursor() as cursor:  # the owner, guards off
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_event WHERE chain = %s AND id > %s", [chain, kept.id])
        cursor.execute(
            "UPDATE audit_chain_head SET head_id = %s, head_hash = %s WHERE chain = %s",
            [kept.id, kept.hash, chain],
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert verify(capsys) == (
        f"Audit chain intact ({AuditEvent.objects.count()} rows).\n"
        "Without --anchor, rows cut from the end of a chain go unnoticed.\n",
        "",
    )

    report, failed = verify(capsys, "--anchor", anchor)
    assert failed.startswith("audit chain broken: 1 problem(s)")
    rows_now = AuditEvent.objects.filter(chain=chain).count()
    assert report == (
        f"- chain {chain}: its anchored head #{head['head_id']} is gone"
        f" ({head['rows']} rows up to it at the anchor, {rows_now} rows now)\n"
    )
