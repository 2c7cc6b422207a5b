"""The one writer of journal entries: every entry — a preparer's, a bill's, a payment's —
is added, changed and posted through a `Journal`, inside a command's unit of work.

`Journal.add` validates and converts a new entry's lines, raising before anything is
kept, and puts the entry and its lines in the unit's changeset; `Journal.post` posts
an entry, new or stored (and locked), moving its accounts' balances: each posted
entry is its own balance change, audit row and `gl.journal_entry.posted`.
"""

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from ledger import balances, events, rules
from ledger.errors import PeriodLocked
from ledger.lines import DEBIT, LineInput, build_lines, load_accounts, movements_of
from ledger.models import (
    Account,
    AccountBalance,
    Entity,
    JournalEntry,
    JournalEntryLine,
    Period,
)
from platform_integrity import audit, outbox, reads
from platform_integrity.context import Actor
from platform_integrity.unit import current

ROLE_ACCOUNTS = ("ap_control_account", "bank_account", "fx_gain_loss_account")
# What a stored entry's submission, approval or posting changes.
STATE = [
    "status",
    "submitted_at",
    "submitted_by",
    "contributor_ids",
    "routed_threshold_minor",
    "approved_by",
    "approved_at",
    "auto_approved",
    "posted_at",
    "rejection_reason_code",
    "rejection_reason",
]


class Journal:
    """Entries of one entity written in one unit of work."""

    def __init__(
        self, entity: Entity, *, locked: Mapping[UUID, AccountBalance] | None = None
    ) -> None:
        """`locked`: the entity's balance rows, by account, the unit has locked already."""
        self.entity = entity
        self._locked = locked
        self._periods: dict[date, Period] = {}
        self._period_reads: dict[date, reads.Pending[Period]] = {}
        self._periods_by_id: dict[Any, Period | None] = {}
        # The accounts a system entry posts to, when the entity was read with them.
        self._accounts: dict[UUID, Account] = {
            account.id: account
            for role in ROLE_ACCOUNTS
            if Entity._meta.get_field(role).is_cached(entity)
            and (account := getattr(entity, role)) is not None
        }
        self._lines: dict[UUID, list[JournalEntryLine]] = {}

    def add(
        self,
        actor: Actor,
        *,
        posting_date: date,
        memo: str,
        lines: list[LineInput],
        source_type: str = "MANUAL",
        source_id: str = "",
        period: Period | None = None,
        external_id: str | None = None,
        post: bool = True,
    ) -> JournalEntry:
        """A new entry, posted unless `post` is false (a preparer's draft); `period`
        defaults to the open period covering `posting_date`."""
        if period is None:
            period = self._covering(posting_date)
        else:
            rules.open_period(period)
            rules.check_posting_date(period, posting_date)
        if source_type == "MANUAL":
            rules.refuse_control_account(self.entity, lines)
        missing = {line.account_id for line in lines} - self._accounts.keys()
        if missing:
            self._accounts.update(load_accounts(missing))
        rows = build_lines(self.entity, posting_date, lines, self._accounts)
        entry = JournalEntry(
            entity=self.entity,
            period=period,
            posting_date=posting_date,
            memo=memo,
            external_id=external_id or None,
            prepared_by=actor.user,
            source_type=source_type,
            source_id=source_id,
            functional_currency_code=self.entity.functional_currency,
            line_count=len(rows),
            total_debit_minor=sum(r.functional_amount_minor for r in rows if r.direction == DEBIT),
        )
        for row in rows:
            row.journal_entry = entry
        changes = current().changes
        changes.add(entry, actor)
        changes.add_all(rows, actor)
        self._lines[entry.id] = rows
        if post:
            entry.submitted_at = timezone.now()
            self.post(entry, actor)
        return entry

    def replace_lines(self, entry: JournalEntry, lines: list[LineInput], actor: Actor) -> None:
        """A stored draft's new lines, in place of its old ones."""
        rows = build_lines(self.entity, entry.posting_date, lines)
        for row in rows:
            row.journal_entry = entry
        changes = current().changes
        changes.remove(JournalEntryLine.objects.filter(journal_entry=entry))
        changes.add_all(rows, actor)
        entry.line_count = len(rows)
        entry.total_debit_minor = sum(
            r.functional_amount_minor for r in rows if r.direction == DEBIT
        )

    def changed(self, entry: JournalEntry, actor: Actor, fields: list[str] = STATE) -> None:
        """A stored entry's state changed (a new one is written once, as it ends)."""
        current().changes.change(entry, fields, actor)

    def post(
        self, entry: JournalEntry, actor: Actor, movements: Mapping[UUID, int] | None = None
    ) -> None:
        """Post an entry of this journal: a new one, or a stored one locked by the unit
        (`movements`: its lines' movement per account, when the caller read it already)."""
        rules.open_period(entry.period)
        entry.post()
        entry.posted_at = timezone.now()
        if entry.id in self._lines:
            movements = movements_of(self._lines[entry.id])
        elif movements is None:
            movements = stored_movements([entry.id]).get(entry.id, {})
        self.changed(entry, actor)
        cause = {"type": "journal_entry", "id": str(entry.id), "source": entry.source_type}
        balances.move([(movements, cause)], locked=self._locked)
        record_posted(entry)

    def expect_period(self, day: date, sent: reads.Pending[Period]) -> None:
        """The read of `day`'s covering period, sent already (`send_period_covering`):
        the first entry dated `day` reads it."""
        self._period_reads[day] = sent

    def read_already(
        self, *, periods: Mapping[UUID, Period | None], accounts: list[Account]
    ) -> None:
        """What the unit has read for this journal already: periods by id (None for an id
        the entity has no period with, as `period` reads it) and accounts."""
        self._periods_by_id.update(periods)
        self._accounts.update((account.pk, account) for account in accounts)

    def period(self, period_id: Any) -> Period | None:
        """The entity's period with this id (None if there is none), read once per unit."""
        if period_id not in self._periods_by_id:
            found = reads.rows(
                Period, "id = %s::uuid AND entity_id = %s::uuid", [period_id, self.entity.id]
            )
            self._periods_by_id[period_id] = found[0] if found else None
        return self._periods_by_id[period_id]

    def _covering(self, day: date) -> Period:
        if day not in self._periods:
            sent = self._period_reads.pop(day, None) or send_period_covering(self.entity.id, day)
            covering = sent.rows()
            if not covering:
                raise PeriodLocked(
                    f"No period covers {day.isoformat()}.", posting_date=day.isoformat()
                )
            rules.open_period(covering[0])
            self._periods[day] = covering[0]
        return self._periods[day]


def record_posted(entry: JournalEntry) -> None:
    """The audit row and `gl.journal_entry.posted` of an entry posted in this unit."""
    audit.record(
        action="ledger.journal_entry_post",
        object_type="journal_entry",
        object_id=str(entry.id),
        payload={
            "entity_id": entry.entity_id,
            "source_type": entry.source_type,
            "prepared_by": entry.prepared_by.get_username(),
            "approved_by": entry.approved_by.get_username() if entry.approved_by else None,
            "auto_approved": entry.auto_approved,
            "line_count": entry.line_count,
            "total_debit_minor": entry.total_debit_minor,
            "currency_code": entry.functional_currency_code,
        },
    )
    outbox.emit("gl.journal_entry.posted", events.journal_entry_event(entry))


def send_period_covering(entity_id: UUID, day: date) -> reads.Pending[Period]:
    """The read of the entity's period covering `day`, sent now (read by `Journal`)."""
    return reads.send(
        Period,
        "entity_id = %s AND start_date <= %s AND end_date >= %s ORDER BY id LIMIT 1",
        [entity_id, day, day],
    )


def send_entities_with_accounts(ids: set[UUID]) -> Callable[[], dict[UUID, Entity]]:
    """The entities with the accounts their system entries post to (`ROLE_ACCOUNTS`),
    their reads sent now (one round trip in a pipeline): call the result for them."""
    wanted = [str(i) for i in ids]
    if not wanted:
        return lambda: {}
    entities = reads.send_by_ids(Entity, wanted)
    accounts = reads.send(Account, f"id = ANY({balances.role_accounts(ROLE_ACCOUNTS)})", [wanted])

    def read() -> dict[UUID, Entity]:
        found = {entity.pk: entity for entity in entities.rows()}
        by_id = {account.pk: account for account in accounts.rows()}
        for entity in found.values():
            for role in ROLE_ACCOUNTS:
                field = Entity._meta.get_field(role)
                field.set_cached_value(entity, by_id.get(getattr(entity, field.attname)))
        return found

    return read


def entities_with_accounts(ids: set[UUID]) -> dict[UUID, Entity]:
    return send_entities_with_accounts(ids)()


def send_stored_movements(entry_ids: list[UUID]) -> Callable[[], dict[UUID, dict[UUID, int]]]:
    """The signed functional movement per account of each stored entry's lines, its read
    sent now: call the result for it."""
    if not entry_ids:
        return dict
    cursor = connection.cursor()
    cursor.execute(
        """
        SELECT journal_entry_id, coa_account_id,
               SUM(CASE WHEN direction = %s THEN functional_amount_minor
                        ELSE -functional_amount_minor END)
          FROM journal_entry_line
         WHERE journal_entry_id = ANY(%s::uuid[])
         GROUP BY journal_entry_id, coa_account_id
        """,
        [DEBIT, [str(pk) for pk in entry_ids]],
    )

    def read() -> dict[UUID, dict[UUID, int]]:
        movements: dict[UUID, dict[UUID, int]] = defaultdict(dict)
        with cursor:
            for entry_id, account_id, delta in cursor.fetchall():
                movements[entry_id][account_id] = delta
        return movements

    return read


def stored_movements(entry_ids: list[UUID]) -> dict[UUID, dict[UUID, int]]:
    return send_stored_movements(entry_ids)()
