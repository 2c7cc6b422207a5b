"""The database backs the ledger up, whatever code or SQL session writes to it.

- Lines of a POSTED or VOID entry cannot be inserted, updated or deleted.
- A POSTED entry cannot change at all.
- An entry cannot be committed as POSTED unless its functional debits equal its
  functional credits and it has lines (a deferred constraint trigger, checked
  at COMMIT, in the spirit of django-hordak's leg check).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION journal_entry_line_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_status text;
BEGIN
    SELECT status INTO entry_status FROM journal_entry
     WHERE id = COALESCE(NEW.journal_entry_id, OLD.journal_entry_id);
    IF entry_status IN ('POSTED', 'VOID') THEN
        RAISE EXCEPTION 'journal entry % is %: its lines are immutable',
            COALESCE(NEW.journal_entry_id, OLD.journal_entry_id), entry_status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END;
$$;
CREATE TRIGGER journal_entry_line_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON journal_entry_line
    FOR EACH ROW EXECUTE FUNCTION journal_entry_line_frozen();

CREATE FUNCTION journal_entry_posted_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'POSTED' THEN
        RAISE EXCEPTION 'journal entry % is posted and immutable', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END;
$$;
CREATE TRIGGER journal_entry_posted_frozen
    BEFORE UPDATE OR DELETE ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION journal_entry_posted_frozen();

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

BACKWARD = """
DROP TRIGGER journal_entry_posted_balances ON journal_entry;
DROP FUNCTION journal_entry_posted_balances();
DROP TRIGGER journal_entry_posted_frozen ON journal_entry;
DROP FUNCTION journal_entry_posted_frozen();
DROP TRIGGER journal_entry_line_frozen ON journal_entry_line;
DROP FUNCTION journal_entry_line_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
