"""The audit log against its own database's owner: what the database refuses, what the
app role may do, and what `verify_audit_chain` catches when the guards are switched off."""

import pytest
from django.db import DatabaseError, connection, transaction

from platform_integrity.models import AuditChainHead, AuditEvent
from tests.conftest import make_books


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
