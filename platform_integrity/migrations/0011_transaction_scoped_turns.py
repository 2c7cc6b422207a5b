from django.db import migrations, models

# An entity's turn is a transaction-scoped advisory lock (see platform_integrity.turns):
# every lock a unit of work takes ends with its transaction, so a connection pooler in
# transaction mode may hand the connection to anyone afterwards, and nothing a cancelled
# or killed caller held outlives it.
OLD = """
DROP PROCEDURE rivane_queue_call(text, text, text, uuid, uuid, text, bigint, text, inet, jsonb,
                                 uuid, bigint, jsonb);
DROP FUNCTION rivane_wait_turn(bigint, bigint);
DROP FUNCTION rivane_queued_calls(text, text[], bigint, interval, integer);
DELETE FROM queued_command;
"""
# Every unit of work moves its chain's head and its balances: room on their pages keeps
# those updates HOT, so they write no index page that other entities' units read.
ROOM = "ALTER TABLE audit_chain_head SET (fillfactor = 10); ALTER TABLE account_balance SET (fillfactor = 30);"
NO_ROOM = "ALTER TABLE audit_chain_head RESET (fillfactor); ALTER TABLE account_balance RESET (fillfactor);"

TURNS = """
-- A waiting caller, in one statement of its READ COMMITTED transaction: it waits in
-- line for the turn (PostgreSQL grants a lock to its waiters in order, and a new try
-- fails while anyone waits). Its turn come, a queued call whose leader answered it
-- takes the answer and lets the turn go at once, inside the server, so the callers a
-- batch answered pass the turn on without a round trip each; a caller not answered keeps
-- the turn for its transaction (`leads`), and its call row goes. The line is held
-- through a session lock that never outlives this statement, on success or error.
CREATE FUNCTION rivane_wait_turn(turn_key bigint, call_id bigint)
RETURNS TABLE (outcome jsonb, leads boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    answer jsonb;
    held boolean := false;
BEGIN
    BEGIN
        PERFORM pg_advisory_lock(turn_key);
        held := true;
        IF call_id IS NOT NULL THEN
            DELETE FROM queued_command q WHERE q.id = call_id RETURNING q.outcome INTO answer;
        END IF;
        IF answer IS NULL THEN
            PERFORM pg_advisory_xact_lock(turn_key);
        END IF;
        PERFORM pg_advisory_unlock(turn_key);
        held := false;
    EXCEPTION WHEN query_canceled OR others THEN
        IF held THEN
            PERFORM pg_advisory_unlock(turn_key);
        END IF;
        RAISE;
    END;
    RETURN QUERY SELECT answer, answer IS NULL;
END
$$;

-- The calls a leader answers with its own: its chain's fresh, unanswered calls whose
-- callers still wait for them (each holds its call's lock while it waits), oldest first.
-- A caller that died or gave up is never run for: its row waits to be swept. A plain
-- index scan skips the dead rows of the chain's history (see migration 0006).
CREATE FUNCTION rivane_queued_calls(
    chain_name text, commands text[], fresh_for interval, how_many integer
) RETURNS TABLE (
    id bigint, command varchar, user_id bigint, channel varchar, ip inet, arguments jsonb
)
LANGUAGE sql VOLATILE
SET enable_bitmapscan = off
AS $$
    SELECT q.id, q.command, q.user_id, q.channel, q.ip, q.arguments
      FROM queued_command q
     WHERE q.chain = chain_name AND q.enqueued_at > now() - fresh_for
       AND q.command = ANY(commands) AND q.outcome IS NULL
       AND NOT pg_try_advisory_xact_lock_shared(rivane_chain_key('call:' || q.id))
     ORDER BY q.enqueued_at, q.id
     LIMIT how_many
$$;
"""

DROP_TURNS = """
DROP FUNCTION rivane_queued_calls(text, text[], interval, integer);
DROP FUNCTION rivane_wait_turn(bigint, bigint);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("platform_integrity", "0010_outbox_positions_in_database"),
        ("ledger", "0009_line_guards_read_nothing_shared"),
    ]

    operations = [
        migrations.RunSQL(OLD, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="queuedcommand",
            name="id",
            field=models.BigIntegerField(primary_key=True, serialize=False),
        ),
        migrations.RunSQL(TURNS, DROP_TURNS),
        migrations.RunSQL(ROOM, NO_ROOM),
    ]
