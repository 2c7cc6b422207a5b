from django.db import migrations

# TRUNCATE fires no row trigger, so the append-only guard of 0002 never saw it.
AUDIT_NO_TRUNCATE = """
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
"""

# A chain's head names its last row: moved back, or deleted, it would hide the rows
# cut from the end of the chain. Commands only ever move it to a row written after it.
HEAD_FORWARD_ONLY = """
CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.chain = OLD.chain AND NEW.head_id > OLD.head_id THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_chain_head only moves forward: chain % from #% to #% refused',
            OLD.chain, OLD.head_id, NEW.head_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit_chain_head only moves forward: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_chain_head_forward_only
    BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only();
CREATE TRIGGER audit_chain_head_no_truncate
    BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_forward_only();
"""


def seal_legacy_chains(apps, schema_editor):
    """Rows written so far carry the unkeyed hash; a keyed row on each chain vouches for them."""
    from platform_integrity.audit import seal_legacy_chains

    seal_legacy_chains(
        apps.get_model("platform_integrity", "AuditEvent"),
        apps.get_model("platform_integrity", "AuditChainHead"),
    )


DROP_HEAD_FORWARD_ONLY = """
DROP TRIGGER audit_chain_head_no_truncate ON audit_chain_head;
DROP TRIGGER audit_chain_head_forward_only ON audit_chain_head;
DROP FUNCTION audit_chain_head_forward_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("platform_integrity", "0008_api_token_expiry_and_revocation"),
    ]

    operations = [
        migrations.RunSQL(
            AUDIT_NO_TRUNCATE, "DROP TRIGGER audit_event_no_truncate ON audit_event;"
        ),
        migrations.RunSQL(HEAD_FORWARD_ONLY, DROP_HEAD_FORWARD_ONLY),
        migrations.RunPython(seal_legacy_chains, migrations.RunPython.noop),
    ]
