"""Every create door honours an idempotency key, through the real API.

For journal entries, vendors, bills, sync and batch payment runs and payments: the same
key with the same body replays the original (same status, same id, `Idempotent-Replayed:
true`, nothing new written); the same key with any other body — a changed amount, or only
`submit`, `post` or `expected_version` — is 422 `idempotency.key_reused`; the same key
from another caller is 422 too and never names the original; `external_id` alone is the
key just as the header is. And eight threads sending one entry with one key at once make
one entry.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from ledger.models import JournalEntry, JournalEntryLine
from payables.models import Bill, Payment, PaymentRun, PaymentRunItem, Vendor
from platform_integrity.models import IdempotencyKey
from platform_integrity.web.auth import issue_token
from tests.conftest import assert_problem, make_user
from tests.platform_integrity.test_role_matrix import (
    INTEGRATION,
    World,
    entry_request,
    make_world,
    open_bill,
    today,
)

REUSED = "idempotency.key_reused"


@dataclass(frozen=True)
class Door:
    path: str
    status: int
    # The request body; it may build what it names (a bill to pay) and is built once.
    body: Callable[[World], dict]
    # Bodies that differ from `body(world)` in one field each, by label.
    variants: Callable[[World, dict], dict[str, dict]]
    # The rows one create writes, counted.
    rows: Callable[[], dict[str, int]]
    scope: str


def _entry_variants(w: World, body: dict) -> dict[str, dict]:
    lines = [dict(line) for line in body["lines"]]
    for line in lines:
        line["amount_minor"] += 1
    return {
        "amount": {**body, "lines": lines},
        "memo": {**body, "memo": "Another memo"},
        "submit": {**body, "submit": True},
    }


def _bill_body(w: World) -> dict:
    return {
        "entity_id": str(w.entity.id),
        "vendor_id": str(w.vendor.id),
        "number": "KEYED-1",
        "currency_code": "USD",
        "bill_date": today().isoformat(),
        "due_date": (today() + timedelta(days=30)).isoformat(),
        "lines": [{"coa_account_id": str(w.account("6000").id), "amount_minor": 7_500}],
    }


def _bill_variants(w: World, body: dict) -> dict[str, dict]:
    return {
        "amount": {**body, "lines": [{**body["lines"][0], "amount_minor": 7_501}]},
        "number": {**body, "number": "KEYED-2"},
    }


def _payment_body(w: World) -> dict:
    return {"bill_id": str(open_bill(w).id), "amount_minor": 5_000, "currency_code": "USD"}


def _payment_variants(w: World, body: dict) -> dict[str, dict]:
    w.vendor.refresh_from_db()
    return {
        "amount": {**body, "amount_minor": 5_001},
        "post": {**body, "post": True},
        "expected_version": {**body, "expected_version": w.vendor.version},
    }


def _sync_body(w: World) -> dict:
    item = {"bill_id": str(open_bill(w).id), "amount_minor": 100, "currency_code": "USD"}
    return {"entity_id": str(w.entity.id), "items": [{**item, "external_id": "feed-1"}]}


def _sync_variants(w: World, body: dict) -> dict[str, dict]:
    return {"amount": {**body, "items": [{**body["items"][0], "amount_minor": 101}]}}


def _batch_body(w: World) -> dict:
    return {"entity_id": str(w.entity.id), "bill_ids": [str(open_bill(w).id)]}


def _batch_variants(w: World, body: dict) -> dict[str, dict]:
    return {"bills": {**body, "bill_ids": [*body["bill_ids"], str(open_bill(w).id)]}}


def _runs(kind: str) -> dict[str, int]:
    runs = PaymentRun.objects.filter(kind=kind)
    return {
        "runs": runs.count(),
        "items": PaymentRunItem.objects.filter(run__in=runs).count(),
    }


DOORS: dict[str, Door] = {
    "journal-entries": Door(
        "/v1/journal-entries",
        201,
        lambda w: entry_request(w, 4_200),
        _entry_variants,
        lambda: {
            "entries": JournalEntry.objects.count(),
            "lines": JournalEntryLine.objects.count(),
        },
        "journal_entry",
    ),
    "vendors": Door(
        "/v1/vendors",
        201,
        lambda w: {"entity_id": str(w.entity.id), "name": "Globex", "currency_code": "USD"},
        lambda w, body: {
            "name": {**body, "name": "Initech"},
            "currency": {**body, "currency_code": "GBP"},
        },
        lambda: {"vendors": Vendor.objects.exclude(name="Acme Supplies").count()},
        "vendor",
    ),
    "bills": Door(
        "/v1/bills",
        201,
        _bill_body,
        _bill_variants,
        lambda: {"bills": Bill.objects.filter(number__startswith="KEYED").count()},
        "bill",
    ),
    "payments": Door(
        "/v1/payments",
        201,
        _payment_body,
        _payment_variants,
        lambda: {"payments": Payment.objects.count()},
        "payment",
    ),
    "payment-sync-runs": Door(
        "/v1/payment-sync-runs",
        202,
        _sync_body,
        _sync_variants,
        lambda: _runs(PaymentRun.Kind.SYNC),
        "payment_run",
    ),
    "payment-batch-runs": Door(
        "/v1/payment-batch-runs",
        202,
        _batch_body,
        _batch_variants,
        lambda: _runs(PaymentRun.Kind.BATCH),
        "payment_run",
    ),
}
ONE = {
    "journal-entries": {"entries": 1, "lines": 2},
    "vendors": {"vendors": 1},
    "bills": {"bills": 1},
    "payments": {"payments": 1},
    "payment-sync-runs": {"runs": 1, "items": 1},
    "payment-batch-runs": {"runs": 1, "items": 1},
}
VARIANTS = [
    ("journal-entries", "amount"),
    ("journal-entries", "memo"),
    ("journal-entries", "submit"),
    ("vendors", "name"),
    ("vendors", "currency"),
    ("bills", "amount"),
    ("bills", "number"),
    ("payments", "amount"),
    ("payments", "post"),
    ("payments", "expected_version"),
    ("payment-sync-runs", "amount"),
    ("payment-batch-runs", "bills"),
]


def client(user) -> APIClient:
    api = APIClient(REMOTE_ADDR="198.51.100.4")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user)}")
    return api


def keyed(key: str) -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": key}


def keys(door: Door) -> int:
    return IdempotencyKey.objects.filter(scope=door.scope).count()


@pytest.fixture
def world(db) -> World:
    return make_world("k")


@pytest.fixture
def integration(world) -> APIClient:
    return client(world.users[INTEGRATION])


@pytest.mark.parametrize("name", list(DOORS))
def test_same_key_same_body_replays_the_original(world, integration, name):
    door = DOORS[name]
    body = door.body(world)
    first = integration.post(door.path, body, format="json", **keyed(f"{name}-1"))
    replay = integration.post(door.path, body, format="json", **keyed(f"{name}-1"))
    assert first.status_code == door.status, first.content
    assert replay.status_code == door.status, replay.content
    assert replay.json()["id"] == first.json()["id"]
    assert "Idempotent-Replayed" not in first
    assert door.rows() == ONE[name]
    assert keys(door) == 1


@pytest.mark.parametrize("name", list(DOORS))
def test_a_replay_says_so_in_a_header(world, integration, name):
    door = DOORS[name]
    body = door.body(world)
    first = integration.post(door.path, body, format="json", **keyed("replayed"))
    replay = integration.post(door.path, body, format="json", **keyed("replayed"))
    assert "Idempotent-Replayed" not in first
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(("name", "changed"), VARIANTS)
def test_same_key_with_another_body_is_refused_and_writes_nothing(
    world, integration, name, changed
):
    door = DOORS[name]
    body = door.body(world)
    first = integration.post(door.path, body, format="json", **keyed("reused"))
    assert first.status_code == door.status, first.content
    other = door.variants(world, body)[changed]
    assert other != body
    before = door.rows()
    refused = integration.post(door.path, other, format="json", **keyed("reused"))
    problem = assert_problem(refused, 422, REUSED)
    assert problem["idempotency_key"] == "reused"
    assert first.json()["id"] not in refused.content.decode()
    assert door.rows() == before == ONE[name]
    assert keys(door) == 1


@pytest.mark.parametrize("name", list(DOORS))
def test_same_key_from_another_caller_is_refused_and_never_names_the_original(
    world, integration, name
):
    door = DOORS[name]
    body = door.body(world)
    first = integration.post(door.path, body, format="json", **keyed("shared"))
    assert first.status_code == door.status, first.content
    stranger = client(make_user("k-integration-2", INTEGRATION))
    refused = stranger.post(door.path, body, format="json", **keyed("shared"))
    assert_problem(refused, 422, REUSED)
    assert first.json()["id"] not in refused.content.decode()
    assert "Idempotent-Replayed" not in refused
    assert door.rows() == ONE[name]
    assert keys(door) == 1


@pytest.mark.parametrize("name", list(DOORS))
def test_external_id_alone_is_the_key(world, integration, name):
    door = DOORS[name]
    body = {**door.body(world), "external_id": f"ext-{name}"}
    first = integration.post(door.path, body, format="json")
    replay = integration.post(door.path, body, format="json")
    assert first.status_code == replay.status_code == door.status, replay.content
    assert replay.json()["id"] == first.json()["id"]
    assert door.rows() == ONE[name]
    assert list(IdempotencyKey.objects.filter(scope=door.scope).values_list("key", flat=True)) == [
        f"ext-{name}"
    ]
    changed = next(iter(door.variants(world, body).values()))
    refused = integration.post(door.path, changed, format="json")
    assert_problem(refused, 422, REUSED)
    assert door.rows() == ONE[name]


@pytest.mark.parametrize("name", list(DOORS))
def test_header_and_external_id_that_differ_are_refused(world, integration, name):
    door = DOORS[name]
    body = {**door.body(world), "external_id": "from-body"}
    refused = integration.post(door.path, body, format="json", **keyed("from-header"))
    assert_problem(refused, 422, "validation_error")
    assert door.rows() == {label: 0 for label in ONE[name]}
    assert keys(door) == 0


@pytest.mark.django_db(transaction=True)
def test_eight_threads_one_key_one_entry():
    world = make_world("t")
    user = world.users[INTEGRATION]
    tokens = [issue_token(user) for _ in range(8)]
    body = entry_request(world, 9_900)
    barrier = threading.Barrier(len(tokens))
    results: list[Any] = [None] * len(tokens)

    def send(i: int) -> None:
        api = APIClient(REMOTE_ADDR="198.51.100.8")
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[i]}")
        try:
            barrier.wait(timeout=30)
            response = api.post(
                "/v1/journal-entries", body, format="json", HTTP_IDEMPOTENCY_KEY="thundering-herd"
            )
            results[i] = (response.status_code, response.json().get("id"))
        except Exception as exc:  # reported below, never swallowed
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert all(isinstance(result, tuple) for result in results), results
    assert [status for status, _ in results] == [201] * len(tokens)
    ids = {entry_id for _, entry_id in results}
    assert len(ids) == 1
    entries = JournalEntry.objects.filter(entity=world.entity)
    assert [str(pk) for pk in entries.values_list("id", flat=True)] == list(ids)
    assert JournalEntryLine.objects.filter(journal_entry__entity=world.entity).count() == 2
    assert (
        IdempotencyKey.objects.filter(
            entity_id=world.entity.id, scope="journal_entry", key="thundering-herd"
        ).count()
        == 1
    )
