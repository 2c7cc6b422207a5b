from django.db import migrations

# A caller of a coalescing command in one round trip (see platform_integrity.coalescing):
# find the entity its call writes to, try the entity's lock and, if it is taken, queue
# the call, commit the queued row (so the lock's holder can read it) and wait in line
# (`rivane_wait_turn`). A procedure, since only a procedure can commit halfway.
QUEUE_CALL = """
CREATE FUNCTION rivane_chain_key(chain_name text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('x' || left(encode(sha256(convert_to(chain_name, 'UTF8')), 'hex'), 16))::bit(64)::bigint
$$;

CREATE PROCEDURE rivane_queue_call(
    row_table text, row_key_column text, row_entity_column text, row_id uuid, given_entity uuid,
    call_command text, call_user_id bigint, call_channel text, call_ip inet, call_arguments jsonb,
    INOUT entity_id uuid, INOUT queued_id bigint, INOUT outcome jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    chain_name text;
    entity_key bigint;
BEGIN
    entity_id := given_entity;
    IF row_table IS NOT NULL THEN
        EXECUTE format('SELECT %I FROM %I WHERE %I = $1', row_entity_column, row_table, row_key_column)
           INTO entity_id USING row_id;
    END IF;
    chain_name := COALESCE('entity:' || entity_id::text, 'global');
    entity_key := rivane_chain_key(chain_name);
    IF pg_try_advisory_lock(entity_key) THEN
        RETURN;
    END IF;
    INSERT INTO queued_command (chain, command, user_id, channel, ip, arguments, enqueued_at)
    VALUES (chain_name, call_command, call_user_id, call_channel, call_ip, call_arguments, now())
    RETURNING id INTO queued_id;
    COMMIT;
    outcome := rivane_wait_turn(entity_key, queued_id);
END
$$;
"""

DROP = """
DROP PROCEDURE rivane_queue_call(text, text, text, uuid, uuid, text, bigint, text, inet, jsonb,
                                 uuid, bigint, jsonb);
DROP FUNCTION rivane_chain_key(text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("platform_integrity", "0006_queue_read_in_time_order"),
    ]

    operations = [migrations.RunSQL(QUEUE_CALL, DROP)]
