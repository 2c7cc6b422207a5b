from django.db import migrations

AUDIT_APPEND_ONLY = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""

OUTBOX_POSITION = "CREATE SEQUENCE outbox_position_seq;"


class Migration(migrations.Migration):
    dependencies = [("platform_integrity", "0001_initial")]

    operations = [
        migrations.RunSQL(
            AUDIT_APPEND_ONLY,
            "DROP TRIGGER audit_event_append_only ON audit_event;"
            "DROP FUNCTION audit_event_append_only();",
        ),
        migrations.RunSQL(OUTBOX_POSITION, "DROP SEQUENCE outbox_position_seq;"),
    ]
