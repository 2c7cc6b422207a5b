from django.db import migrations, models

# Feed positions for committed events, in the database (see platform_integrity.outbox).
# One step at a time (a transaction-scoped advisory lock: nothing outlives the
# transaction, as PgBouncer's transaction pooling requires), and each statement after
# the lock sees every step and every event committed before it, so positions increase
# in the order events become visible. With nothing to position it returns at once,
# without the lock: a reader that sees no unpositioned event can already read them all.
OUTBOX_POSITION = """
CREATE FUNCTION rivane_outbox_position() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    positioned bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'outbox positions are assigned at READ COMMITTED, not %',
            current_setting('transaction_isolation');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM outbox_event WHERE position IS NULL) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(7302118002);
    UPDATE outbox_event o
       SET position = n.position
      FROM (SELECT id, nextval('outbox_position_seq') AS position
              FROM (SELECT id FROM outbox_event WHERE position IS NULL ORDER BY id) unpositioned
           ) n
     WHERE o.id = n.id;
    GET DIAGNOSTICS positioned = ROW_COUNT;
    RETURN positioned;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("platform_integrity", "0009_audit_tamper_guards"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="outboxevent", name="outbox_unpublished"),
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("position", None)), fields=["id"], name="outbox_unpositioned"
            ),
        ),
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("published_at", None)),
                fields=["position"],
                name="outbox_unpublished",
            ),
        ),
        migrations.RunSQL(OUTBOX_POSITION, "DROP FUNCTION rivane_outbox_position();"),
    ]
