import threading

import pytest
from django.db import connection

from ledger.models import JournalEntry
from tests.conftest import assert_problem, client_for, entry_body, line, make_books, make_user


@pytest.mark.django_db(transaction=True)
def test_one_key_sent_by_many_threads_at_once_has_one_effect():
    books = make_books()
    user = make_user("alice", "accountant")
    body = entry_body(
        books,
        [line(books.account("6000"), "DEBIT", 1_500), line(books.account("1000"), "CREDIT", 1_500)],
        external_id="same-key-everywhere",
    )
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[tuple[int, str]] = []

    def send() -> None:
        client = client_for(user)
        barrier.wait()
        response = client.post("/v1/journal-entries", body, format="json")
        results.append((response.status_code, response.json().get("id")))
        connection.close()

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert len(results) == threads
    assert {status for status, _ in results} == {201}
    assert len({entry_id for _, entry_id in results}) == 1
    assert JournalEntry.objects.filter(external_id="same-key-everywhere").count() == 1


@pytest.mark.django_db
def test_same_key_with_different_payload_is_refused(books, api):
    lines = [line(books.account("6000"), "DEBIT", 100), line(books.account("1000"), "CREDIT", 100)]
    first = api["accountant"].post(
        "/v1/journal-entries", entry_body(books, lines, external_id="k-1"), format="json"
    )
    replay = api["accountant"].post(
        "/v1/journal-entries", entry_body(books, lines, external_id="k-1"), format="json"
    )
    assert first.status_code == replay.status_code == 201
    assert first.json()["id"] == replay.json()["id"]
    changed = [
        line(books.account("6000"), "DEBIT", 200),
        line(books.account("1000"), "CREDIT", 200),
    ]
    reused = api["accountant"].post(
        "/v1/journal-entries", entry_body(books, changed, external_id="k-1"), format="json"
    )
    assert_problem(reused, 422, "idempotency.key_reused")
    assert first.json()["id"] not in reused.content.decode()
    assert JournalEntry.objects.count() == 1
