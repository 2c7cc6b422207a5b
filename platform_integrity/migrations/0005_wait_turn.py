from django.db import migrations

# A queued caller's wait, server side (see platform_integrity.coalescing): it waits
# for the entity's lock in line, then looks for its answer with a snapshot taken
# after the wait (each statement of a VOLATILE function takes its own). Answered,
# it lets the lock go at once, so the next in line gets it; not, it keeps the lock
# and leads. Callers a batch answered pass the lock on without a round trip each.
WAIT_TURN = """
CREATE FUNCTION rivane_wait_turn(entity_key bigint, queued_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    answer jsonb;
BEGIN
    PERFORM pg_advisory_lock(entity_key);
    DELETE FROM queued_command WHERE id = queued_id AND outcome IS NOT NULL
    RETURNING outcome INTO answer;
    IF answer IS NULL AND NOT EXISTS (SELECT 1 FROM queued_command WHERE id = queued_id) THEN
        -- Only rows abandoned for an hour are removed by others: running the call
        -- now could repeat work already done, so it is refused.
        PERFORM pg_advisory_unlock(entity_key);
        RAISE EXCEPTION 'queued call % vanished before it was answered', queued_id;
    END IF;
    IF answer IS NOT NULL THEN
        PERFORM pg_advisory_unlock(entity_key);
    END IF;
    RETURN answer;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("platform_integrity", "0004_command_queue"),
    ]

    operations = [
        migrations.RunSQL(WAIT_TURN, "DROP FUNCTION rivane_wait_turn(bigint, bigint);"),
    ]
