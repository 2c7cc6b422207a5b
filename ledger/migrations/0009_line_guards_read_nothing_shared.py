"""The ledger's database guards, rewritten so the hot path reads no page other entities write.

Under SERIALIZABLE, PostgreSQL tracks reads per index page. The old guards read
`journal_entry` for every line inserted (is its entry frozen?) and every posted
entry's lines at COMMIT (does it balance?): pages every entity's writers insert
into, so writers of different entities failed each other with 40001 although they
share no row. Now:

- Every statement that inserts, updates or deletes lines must leave each entry it
  touches as balanced as it was (functional debits minus credits unchanged), checked
  on the statement's own rows (transition tables): an entry is written balanced and
  stays so, posted or not, and nothing is read to know it.
- An entry cannot be POSTED without lines and a debit total (its own columns).
- A line cannot be inserted into a POSTED or VOID entry that this transaction did not
  write: checked at COMMIT, as a foreign key is, with a key-share read.
- Lines of POSTED or VOID entries still cannot be updated, moved or deleted, and a
  posted or void entry cannot change (migration 0008; those paths are not hot).
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER journal_entry_posted_balances ON journal_entry;
DROP FUNCTION journal_entry_posted_balances();

DROP TRIGGER journal_entry_line_frozen ON journal_entry_line;
CREATE TRIGGER journal_entry_line_frozen
    BEFORE UPDATE OR DELETE ON journal_entry_line
    FOR EACH ROW EXECUTE FUNCTION journal_entry_line_frozen();

CREATE FUNCTION journal_entry_line_joins_open_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_status text;
    written_by xid;
    now_xid bigint := pg_current_xact_id()::text::bigint;
    writer bigint;
BEGIN
    SELECT status, xmin INTO entry_status, written_by FROM journal_entry
     WHERE id = NEW.journal_entry_id FOR KEY SHARE;
    IF entry_status NOT IN ('POSTED', 'VOID') THEN
        RETURN NULL;
    END IF;
    -- The entry's writer as a full transaction id: the epoch of ours, or the one before
    -- when its 32 bits are far ahead of ours (a subtransaction of ours is just ahead).
    writer := (now_xid >> 32 << 32) + written_by::text::bigint;
    IF writer > now_xid + 2147483648 THEN
        writer := writer - 4294967296;
    END IF;
    -- A row we can see whose writer is still in progress was written by us: a system
    -- entry is written posted, with its lines, in one transaction.
    IF pg_xact_status(writer::text::xid8) <> 'in progress' THEN
        RAISE EXCEPTION 'journal entry % is %: no line can be added to it',
            NEW.journal_entry_id, entry_status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER journal_entry_line_joins_open_entry
    AFTER INSERT ON journal_entry_line
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_entry_line_joins_open_entry();

"""

# The three statement triggers; each names the transition tables its event has.
TRIGGERS = """
CREATE FUNCTION journal_entry_lines_keep_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT journal_entry_id INTO unbalanced FROM added
         GROUP BY journal_entry_id
        HAVING sum(CASE WHEN direction = 'DEBIT' THEN functional_amount_minor
                        ELSE -functional_amount_minor END) <> 0
         LIMIT 1;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT journal_entry_id INTO unbalanced FROM removed
         GROUP BY journal_entry_id
        HAVING sum(CASE WHEN direction = 'DEBIT' THEN functional_amount_minor
                        ELSE -functional_amount_minor END) <> 0
         LIMIT 1;
    ELSE
        SELECT journal_entry_id INTO unbalanced FROM (
            SELECT journal_entry_id, direction, functional_amount_minor, 1 AS side FROM added
            UNION ALL
            SELECT journal_entry_id, direction, functional_amount_minor, -1 FROM removed
        ) moved
         GROUP BY journal_entry_id
        HAVING sum(side * CASE WHEN direction = 'DEBIT' THEN functional_amount_minor
                               ELSE -functional_amount_minor END) <> 0
         LIMIT 1;
    END IF;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance: a statement may only add or remove '
            'lines whose functional debits equal their credits', unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER journal_entry_lines_inserted_balance
    AFTER INSERT ON journal_entry_line REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entry_lines_keep_balance();
CREATE TRIGGER journal_entry_lines_deleted_balance
    AFTER DELETE ON journal_entry_line REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entry_lines_keep_balance();
CREATE TRIGGER journal_entry_lines_updated_balance
    AFTER UPDATE ON journal_entry_line REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entry_lines_keep_balance();

CREATE FUNCTION journal_entry_posted_has_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.line_count < 2 OR NEW.total_debit_minor <= 0 THEN
        RAISE EXCEPTION 'journal entry % cannot be posted without lines', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER journal_entry_posted_has_lines
    BEFORE INSERT OR UPDATE ON journal_entry
    FOR EACH ROW WHEN (NEW.status = 'POSTED')
    EXECUTE FUNCTION journal_entry_posted_has_lines();
"""

BACKWARD = """
DROP TRIGGER journal_entry_posted_has_lines ON journal_entry;
DROP FUNCTION journal_entry_posted_has_lines();
DROP TRIGGER journal_entry_lines_updated_balance ON journal_entry_line;
DROP TRIGGER journal_entry_lines_deleted_balance ON journal_entry_line;
DROP TRIGGER journal_entry_lines_inserted_balance ON journal_entry_line;
DROP FUNCTION journal_entry_lines_keep_balance();
DROP TRIGGER journal_entry_line_joins_open_entry ON journal_entry_line;
DROP FUNCTION journal_entry_line_joins_open_entry();
DROP TRIGGER journal_entry_line_frozen ON journal_entry_line;
CREATE TRIGGER journal_entry_line_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON journal_entry_line
    FOR EACH ROW EXECUTE FUNCTION journal_entry_line_frozen();
CREATE FUNCTION journal_entry_posted_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    debits bigint;
    credits bigint;
BEGIN
    SELECT COALESCE(SUM(functional_amount_minor) FILTER (WHERE direction = 'DEBIT'), 0),
           COALESCE(SUM(functional_amount_minor) FILTER (WHERE direction = 'CREDIT'), 0)
      INTO debits, credits
      FROM journal_entry_line WHERE journal_entry_id = NEW.id;
    IF debits <> credits OR debits = 0 THEN
        RAISE EXCEPTION 'posted journal entry % does not balance: debits %, credits %',
            NEW.id, debits, credits
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER journal_entry_posted_balances
    AFTER INSERT OR UPDATE ON journal_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.status = 'POSTED')
    EXECUTE FUNCTION journal_entry_posted_balances();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_line_freeze_checks_old_and_new_entry")]

    operations = [migrations.RunSQL(FORWARD + TRIGGERS, BACKWARD)]
