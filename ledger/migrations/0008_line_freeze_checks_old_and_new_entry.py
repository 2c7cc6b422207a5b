"""The line freeze looks at the entry a line leaves as well as the one it joins.

0002's trigger looked only at the new entry id, so
`UPDATE journal_entry_line SET journal_entry_id = <draft>` carried a line out of a
POSTED entry (and its amount out of the posted books). Now:

- a line of a POSTED or VOID entry cannot be updated (moved included) or deleted;
- no line can be inserted into, or moved into, a POSTED or VOID entry;
- a VOID entry is as frozen as a POSTED one: it cannot be edited, reopened or
  deleted, so its lines cannot be thawed by changing its status first.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION journal_entry_line_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_status text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT status INTO entry_status FROM journal_entry WHERE id = OLD.journal_entry_id;
        IF entry_status IN ('POSTED', 'VOID') THEN
            RAISE EXCEPTION 'journal entry % is %: its lines are immutable (% refused)',
                OLD.journal_entry_id, entry_status, TG_OP
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    IF TG_OP = 'INSERT'
       OR (TG_OP = 'UPDATE' AND NEW.journal_entry_id IS DISTINCT FROM OLD.journal_entry_id) THEN
        SELECT status INTO entry_status FROM journal_entry WHERE id = NEW.journal_entry_id;
        IF entry_status IN ('POSTED', 'VOID') THEN
            RAISE EXCEPTION 'journal entry % is %: no line can be added to it',
                NEW.journal_entry_id, entry_status
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    RETURN COALESCE(NEW, OLD);
END;
$$;

CREATE OR REPLACE FUNCTION journal_entry_posted_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('POSTED', 'VOID') THEN
        RAISE EXCEPTION 'journal entry % is % and immutable', OLD.id, lower(OLD.status)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END;
$$;
"""

BACKWARD = """
CREATE OR REPLACE FUNCTION journal_entry_line_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION journal_entry_posted_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'POSTED' THEN
        RAISE EXCEPTION 'journal entry % is posted and immutable', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_entry_segregation_of_duties")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
