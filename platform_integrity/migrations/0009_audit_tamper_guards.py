import re

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

DROP_HEAD_FORWARD_ONLY = """
DROP TRIGGER audit_chain_head_no_truncate ON audit_chain_head;
DROP TRIGGER audit_chain_head_forward_only ON audit_chain_head;
DROP FUNCTION audit_chain_head_forward_only();
"""


def seal_legacy_chains(apps, schema_editor):
    """Rows written so far carry the unkeyed hash; a keyed row on each chain vouches for them."""
    from platform_integrity.audit_chain import seal_legacy_chains

    seal_legacy_chains(
        apps.get_model("platform_integrity", "AuditEvent"),
        apps.get_model("platform_integrity", "AuditChainHead"),
    )


# The role the app connects as owns nothing. It may exist already: created by hand in
# production (with its password), or by another database of the cluster (tests create
# many, some at once).
CREATE_APP_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
        CREATE ROLE {role} LOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL;
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role {name} does not exist, and % may not create it', current_user
            USING HINT = 'Create it first: CREATE ROLE {name} LOGIN PASSWORD ''...''';
END
$$;
"""

# Reads and writes of every table, now and as later migrations create them (default
# privileges cover what the owner running migrations creates). The audit log is only
# read and appended to, its chain heads are never deleted, no table is truncated.
GRANT_APP_ROLE = """
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role};
REVOKE UPDATE, DELETE ON audit_event FROM {role};
REVOKE DELETE ON audit_chain_head FROM {role};
REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {role};
"""

REVOKE_APP_ROLE = """
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {role};
REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role};
"""


def app_role_sql(template, schema_editor):
    from django.conf import settings

    name = settings.RIVANE_APP_ROLE
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"RIVANE_APP_ROLE {name!r}: use lower-case letters, digits and _")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    quote = schema_editor.quote_name
    return template.format(name=name, role=quote(name), schema=quote(schema))


def grant_app_role(apps, schema_editor):
    schema_editor.execute(app_role_sql(CREATE_APP_ROLE, schema_editor), params=None)
    schema_editor.execute(app_role_sql(GRANT_APP_ROLE, schema_editor), params=None)


def revoke_app_role(apps, schema_editor):
    schema_editor.execute(app_role_sql(REVOKE_APP_ROLE, schema_editor), params=None)


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
        migrations.RunPython(grant_app_role, revoke_app_role),
    ]
