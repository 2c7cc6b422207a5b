from django.db import migrations, models

# The calls a leader answers with its own (see platform_integrity.coalescing): its
# chain's fresh, unanswered calls, oldest first. Every answered call leaves a dead
# row, and a server that never vacuums keeps them all. A bitmap scan visits each
# dead row of the chain's history on every read; a plain index scan marks the index
# entries of rows dead to everyone as it passes them and skips them from then on,
# and the time range bounds it to the fresh calls. The planner picks the bitmap scan
# when it expects few rows, so this read turns it off.
QUEUED_CALLS = """
CREATE FUNCTION rivane_queued_calls(
    chain_name text, commands text[], except_id bigint, fresh_for interval, how_many integer
) RETURNS TABLE (
    id bigint, command varchar, user_id bigint, channel varchar, ip inet, arguments jsonb
)
LANGUAGE sql STABLE
SET enable_bitmapscan = off
AS $$
    SELECT q.id, q.command, q.user_id, q.channel, q.ip, q.arguments
      FROM queued_command q
     WHERE q.chain = chain_name AND q.enqueued_at > now() - fresh_for
       AND q.command = ANY(commands) AND q.outcome IS NULL AND q.id <> except_id
     ORDER BY q.enqueued_at, q.id
     LIMIT how_many
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("platform_integrity", "0005_wait_turn"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="queuedcommand",
            name="queued_comm_chain_0805f7_idx",
        ),
        migrations.AddIndex(
            model_name="queuedcommand",
            index=models.Index(
                fields=["chain", "enqueued_at", "id"], name="queued_comm_chain_c02f5f_idx"
            ),
        ),
        migrations.RunSQL(
            QUEUED_CALLS,
            "DROP FUNCTION rivane_queued_calls(text, text[], bigint, interval, integer);",
        ),
    ]
