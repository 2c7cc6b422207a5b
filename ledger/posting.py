"""Building and posting journal lines: validation, conversion at spot, balance updates.

Everything here runs inside a command's unit of work (`ledger.commands`, or a
payables command that posts its GL entry).
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from ledger import money
from ledger.errors import (
    AccountInvalid,
    AmountNotPositive,
    AmountOutOfRange,
    ControlAccountReserved,
    EntityConfigurationInvalid,
    JournalEntryImbalanced,
    JournalEntryLinesInvalid,
    JournalEntryTooManyLines,
    PeriodLocked,
    PostingDateOutsidePeriod,
)
from ledger.models import (
    MAX_LINES_PER_ENTRY,
    Account,
    Entity,
    JournalEntry,
    JournalEntryLine,
    Period,
)
from platform_integrity import audit, balances, bulk, history, outbox, reads
from platform_integrity.context import Actor
from platform_integrity.models import AccountBalance
from platform_integrity.unit_of_work import current

DEBIT = JournalEntryLine.Direction.DEBIT
CREDIT = JournalEntryLine.Direction.CREDIT
ROLE_ACCOUNTS = ("ap_control_account", "bank_account", "fx_gain_loss_account")


@dataclass(frozen=True)
class LineInput:
    account_id: UUID
    direction: str
    amount_minor: int
    currency_code: str
    functional_amount_minor: int | None = None
    dimension_tags: dict[str, Any] | None = None
    memo: str = ""
    external_id: str | None = None


def open_period(period: Period) -> None:
    if period.status != Period.Status.OPEN:
        raise PeriodLocked(
            f"Period {period.name} is closed; nothing can be posted into it.",
            period_id=str(period.id),
        )


def period_covering(entity: Entity, day: date) -> Period:
    return covering_period(send_period_covering(entity.id, day), day)


def send_period_covering(entity_id: UUID, day: date) -> reads.Pending[Period]:
    """The read of the period of the entity covering `day`; `covering_period` checks it."""
    return reads.send(
        Period,
        "entity_id = %s AND start_date <= %s AND end_date >= %s ORDER BY id LIMIT 1",
        [entity_id, day, day],
    )


def covering_period(sent: reads.Pending[Period], day: date) -> Period:
    """The open period the read found (`send_period_covering`): else `PeriodLocked`."""
    covering = sent.rows()
    period = covering[0] if covering else None
    if period is None:
        raise PeriodLocked(f"No period covers {day.isoformat()}.", posting_date=day.isoformat())
    open_period(period)
    return period


def check_posting_date(period: Period, day: date) -> None:
    if not period.contains(day):
        raise PostingDateOutsidePeriod(
            f"Posting date {day.isoformat()} is outside period {period.name} "
            f"({period.start_date.isoformat()} to {period.end_date.isoformat()}).",
            period_id=str(period.id),
        )


def build_lines(
    entity: Entity,
    posting_date: date,
    lines: list[LineInput],
    accounts: Mapping[UUID, Account] | None = None,
) -> list[JournalEntryLine]:
    """Validate lines and convert them to functional currency; unsaved rows in input order.

    Raises the specific 422 for the first kind of problem found, naming the lines.
    `accounts` holds the lines' accounts when the caller has them already.
    """
    if len(lines) > MAX_LINES_PER_ENTRY:
        raise JournalEntryTooManyLines(
            f"An entry can have at most {MAX_LINES_PER_ENTRY} lines; this one has {len(lines)}.",
            max_lines=MAX_LINES_PER_ENTRY,
            line_count=len(lines),
        )
    directions = {line.direction for line in lines}
    if DEBIT not in directions or CREDIT not in directions:
        raise JournalEntryLinesInvalid("An entry needs at least one debit and one credit line.")
    non_positive = [i for i, line in enumerate(lines) if line.amount_minor <= 0]
    if non_positive:
        raise AmountNotPositive(
            "Every line amount must be greater than zero.", lines=non_positive[:50]
        )
    too_large = [i for i, line in enumerate(lines) if line.amount_minor > money.MAX_MINOR]
    if too_large:
        raise AmountOutOfRange(
            f"A line amount can be at most {money.MAX_MINOR} minor units.",
            lines=too_large[:50],
            max_minor=money.MAX_MINOR,
        )
    for code in {line.currency_code for line in lines} | {entity.functional_currency}:
        money.exponent(code)
    _check_balanced_per_currency(lines)

    if accounts is None:
        accounts = load_accounts({line.account_id for line in lines})
    bad = [
        i
        for i, line in enumerate(lines)
        if (account := accounts.get(line.account_id)) is None
        or account.entity_id != entity.id
        or not account.active
    ]
    if bad:
        raise AccountInvalid(
            "Some lines use an account that is unknown, inactive or belongs to another entity.",
            lines=bad[:50],
        )

    functional = entity.functional_currency
    rates = {
        code: money.spot_rate(code, functional, posting_date)
        for code in {line.currency_code for line in lines}
    }
    exact = [
        Decimal(line.functional_amount_minor)
        if line.functional_amount_minor is not None
        else money.exact_functional(
            line.amount_minor, line.currency_code, functional, rates[line.currency_code]
        )
        for line in lines
    ]
    sides = {DEBIT: [], CREDIT: []}
    for i, line in enumerate(lines):
        sides[line.direction].append(i)
    allocated: dict[int, int] = {}
    totals: dict[str, int] = {}
    for direction, indexes in sides.items():
        allocation = money.allocate([exact[i] for i in indexes])
        allocated.update(zip(indexes, allocation.amounts, strict=True))
        totals[direction] = allocation.total
    if totals[DEBIT] > money.MAX_MINOR:
        raise AmountOutOfRange(
            f"The entry's {functional} total does not fit in a ledger amount "
            f"(at most {money.MAX_MINOR} minor units).",
            max_minor=money.MAX_MINOR,
        )
    if totals[DEBIT] != totals[CREDIT]:
        raise JournalEntryImbalanced(
            f"Debits ({totals[DEBIT]}) and credits ({totals[CREDIT]}) differ by "
            f"{abs(totals[DEBIT] - totals[CREDIT])} in {functional} minor units.",
            total_debit_minor=totals[DEBIT],
            total_credit_minor=totals[CREDIT],
            currency_code=functional,
        )
    return [
        JournalEntryLine(
            line_no=i + 1,
            external_id=line.external_id,
            coa_account_id=line.account_id,
            amount_minor=line.amount_minor,
            currency_code=line.currency_code,
            functional_amount_minor=allocated[i],
            functional_currency_code=functional,
            direction=line.direction,
            dimension_tags=line.dimension_tags or {},
            memo=line.memo,
        )
        for i, line in enumerate(lines)
    ]


def refuse_control_account(entity: Entity, lines: list[LineInput]) -> None:
    """Manual entries keep off the AP control account: payables alone posts it, so that
    its balance is always the open bills' (an invariant `verify_integrity` checks)."""
    control = entity.ap_control_account_id
    used = [i for i, line in enumerate(lines) if control and line.account_id == control]
    if used:
        raise ControlAccountReserved(
            "The accounts payable control account is posted by bills and payments only; "
            "use another account.",
            lines=used[:50],
        )


def _check_balanced_per_currency(lines: list[LineInput]) -> None:
    """Lines converted at spot balance in their own currency too: 100 JPY against 101 JPY
    is refused even where both round to the same cents. Lines whose functional amount the
    system fixes (an AP carrying amount, a realized FX difference) balance in functional
    currency only."""
    sides: dict[str, dict[str, int]] = defaultdict(lambda: {DEBIT: 0, CREDIT: 0})
    for line in lines:
        if line.functional_amount_minor is None:
            sides[line.currency_code][line.direction] += line.amount_minor
    for code, total in sorted(sides.items()):
        if max(total.values()) > money.MAX_MINOR:
            raise AmountOutOfRange(
                f"The entry's {code} lines add up to more than a ledger amount can hold "
                f"({money.MAX_MINOR} minor units).",
                currency_code=code,
                max_minor=money.MAX_MINOR,
            )
        if total[DEBIT] != total[CREDIT]:
            raise JournalEntryImbalanced(
                f"{code} debits ({total[DEBIT]}) and credits ({total[CREDIT]}) differ by "
                f"{abs(total[DEBIT] - total[CREDIT])} {code} minor units; an entry balances "
                "in each currency it is written in.",
                total_debit_minor=total[DEBIT],
                total_credit_minor=total[CREDIT],
                currency_code=code,
            )


def entities_with_accounts(ids: set[UUID]) -> dict[UUID, Entity]:
    """Entities with the accounts their system entries post to (`ROLE_ACCOUNTS`) attached."""
    return send_entities_with_accounts(ids)()


def send_entities_with_accounts(ids: set[UUID]) -> Callable[[], dict[UUID, Entity]]:
    """`entities_with_accounts`, its reads sent now (one round trip in a pipeline): call
    the result for the entities."""
    wanted = [str(i) for i in ids]
    if not wanted:
        return lambda: {}
    entities = reads.send_by_ids(Entity, wanted)
    accounts = reads.send(Account, f"id = ANY({_role_accounts(ROLE_ACCOUNTS)})", [wanted])

    def read() -> dict[UUID, Entity]:
        found = {entity.pk: entity for entity in entities.rows()}
        by_id = {account.pk: account for account in accounts.rows()}
        for entity in found.values():
            for role in ROLE_ACCOUNTS:
                field = Entity._meta.get_field(role)
                field.set_cached_value(entity, by_id.get(getattr(entity, field.attname)))
        return found

    return read


def send_role_balance_locks(
    ids: set[UUID], roles: tuple[str, ...]
) -> reads.Pending[AccountBalance]:
    """Lock the balances of the entities' accounts in these roles (of `ROLE_ACCOUNTS`), so
    a unit that will post to them locks them with its other rows (one round trip,
    pipelined). Only those it will post to: SERIALIZABLE turns a third read row of one
    table page into a read of the whole page, which every other entity's balance
    change on that page then conflicts with."""
    return balances.send_locks(_role_accounts(roles), [[str(i) for i in ids]])


def send_balance_locks(entity_id: UUID, accounts: set[UUID]) -> reads.Pending[AccountBalance]:
    """Lock the balances of those of `accounts` that belong to the entity (another
    entity's account is refused later, by the line checks, and its balance not locked)."""
    return balances.send_locks(
        reads.array_of(Account, ("id",), "id = ANY(%s::uuid[]) AND entity_id = %s"),
        [[str(a) for a in accounts], entity_id],
    )


def _role_accounts(roles: tuple[str, ...]) -> str:
    """SQL: the array of the accounts in these roles of the entities of the array %s."""
    return reads.array_of(Entity, roles, "id = ANY(%s::uuid[])")


def load_accounts(ids: set[UUID]) -> dict[UUID, Account]:
    return reads.by_ids(Account, ids)


def save_lines(entry: JournalEntry, rows: list[JournalEntryLine]) -> None:
    """Insert an entry's lines in one statement: the database checks each statement
    leaves the entry balanced (ledger migration 0009)."""
    for row in rows:
        row.journal_entry = entry
    bulk.insert(rows, read_ids=False)
    entry.line_count = len(rows)
    entry.total_debit_minor = sum(r.functional_amount_minor for r in rows if r.direction == DEBIT)


def movements_of(rows: list[JournalEntryLine]) -> dict[UUID, int]:
    deltas: dict[UUID, int] = defaultdict(int)
    for row in rows:
        deltas[row.coa_account_id] += row.signed_functional_minor
    return deltas


def posting_cause(entry: JournalEntry) -> dict[str, str]:
    return {"type": "journal_entry", "id": str(entry.id), "source": entry.source_type}


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
    outbox.emit("gl.journal_entry.posted", journal_entry_event(entry))


def journal_entry_event(entry: JournalEntry) -> dict[str, Any]:
    return {
        "journal_entry_id": str(entry.id),
        "entity_id": str(entry.entity_id),
        "external_id": entry.external_id,
        "status": entry.status,
        "posting_date": entry.posting_date.isoformat(),
        "total_debit_minor": entry.total_debit_minor,
        "currency_code": entry.functional_currency_code,
        "line_count": entry.line_count,
        "prepared_by": entry.prepared_by_id,
        "approved_by": entry.approved_by_id,
        "source_type": entry.source_type,
        "source_id": entry.source_id,
    }


class Journal:
    """New entries of one entity, gathered in one unit of work and written together.

    `add` validates and converts an entry's lines, raising before anything is
    kept, so a request it refuses leaves nothing behind. `write` inserts every
    entry and line — one statement per table — and posts the ones added with
    `post=True` (system entries: a bill's, a payment's), moving the balances
    with one update for all of them (each entry still its own balance change,
    version and event). Manual entries are added as drafts; one submitted as it
    is created (`changed`, `post`: the interface of `Postings`) is written once,
    in the state its submission left it.
    """

    def __init__(
        self, entity: Entity, *, balances: Mapping[UUID, AccountBalance] | None = None
    ) -> None:
        """`balances`: balance rows, by account, the unit has locked already."""
        self.entity = entity
        self._balances = balances
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
        self._entries: list[tuple[JournalEntry, list[JournalEntryLine], Actor]] = []
        self._to_post: set[UUID] = set()
        self._created: dict[UUID, JournalEntry] = {}

    def add(
        self,
        actor: Actor,
        *,
        posting_date: date,
        memo: str,
        lines: list[LineInput] | list[dict[str, Any]],
        source_type: str = "MANUAL",
        source_id: str = "",
        period: Period | None = None,
        external_id: str | None = None,
        post: bool = True,
    ) -> JournalEntry:
        """A new entry; `period` defaults to the open period covering `posting_date`."""
        if period is None:
            if posting_date not in self._periods:
                sent = self._period_reads.pop(posting_date, None) or send_period_covering(
                    self.entity.id, posting_date
                )
                self._periods[posting_date] = covering_period(sent, posting_date)
            period = self._periods[posting_date]
        else:
            open_period(period)
            check_posting_date(period, posting_date)
        inputs = [line if isinstance(line, LineInput) else LineInput(**line) for line in lines]
        if source_type == "MANUAL":
            refuse_control_account(self.entity, inputs)
        missing = {line.account_id for line in inputs} - self._accounts.keys()
        if missing:
            self._accounts.update(load_accounts(missing))
        rows = build_lines(self.entity, posting_date, inputs, self._accounts)
        entry = JournalEntry(
            id=uuid.uuid4(),
            entity=self.entity,
            period=period,
            posting_date=posting_date,
            memo=memo,
            external_id=external_id or None,
            prepared_by=actor.user,
            source_type=source_type,
            source_id=source_id,
            functional_currency_code=self.entity.functional_currency,
            submitted_at=timezone.now() if post else None,
            line_count=len(rows),
            total_debit_minor=sum(r.functional_amount_minor for r in rows if r.direction == DEBIT),
        )
        if post:
            self._to_post.add(entry.id)
        for row in rows:
            row.journal_entry = entry
        self._entries.append((entry, rows, actor))
        self._created[entry.id] = entry
        return entry

    def read_already(
        self, *, periods: Mapping[UUID, Period | None], accounts: list[Account]
    ) -> None:
        """What the unit has read for this journal already: periods by id (None for an id
        the entity has no period with, as `period` reads it) and accounts."""
        self._periods_by_id.update(periods)
        self._accounts.update((account.pk, account) for account in accounts)

    def expect_period(self, day: date, sent: reads.Pending[Period]) -> None:
        """The read of `day`'s covering period, sent already (`send_period_covering`):
        the first entry dated `day` reads it."""
        self._period_reads[day] = sent

    def changed(self, entry: JournalEntry, actor: Actor) -> None:
        """A new entry's change of state (routed for approval): `write` stores it as it is then."""

    def post(self, entry: JournalEntry, actor: Actor) -> None:
        """Post a new entry when it is written (raises `PeriodLocked` before changing anything)."""
        open_period(entry.period)
        self._to_post.add(entry.id)

    def period(self, period_id: Any) -> Period | None:
        """The entity's period with this id (None if there is none), read once per unit."""
        if period_id not in self._periods_by_id:
            found = reads.rows(
                Period, "id = %s::uuid AND entity_id = %s::uuid", [period_id, self.entity.id]
            )
            self._periods_by_id[period_id] = found[0] if found else None
        return self._periods_by_id[period_id]

    def created(self, entry_id: Any) -> JournalEntry | None:
        """An entry added in this unit (an idempotency key may replay it before it is written)."""
        return self._created.get(entry_id if isinstance(entry_id, UUID) else UUID(str(entry_id)))

    def write(self) -> None:
        if not self._entries:
            return
        posting = [item for item in self._entries if item[0].id in self._to_post]
        changes = balances.BalanceChanges(
            [(movements_of(rows), posting_cause(entry)) for entry, rows, _ in posting],
            locked=self._balances,
        )
        # Lines first: their entries are inserted right after (the foreign key is
        # checked at COMMIT), and a system entry already POSTED, so each entry is
        # written once, in the only state anyone can see. The database still
        # refuses lines added to a posted entry and checks, at COMMIT, that each
        # posted entry balances.
        with bulk.pipelined():
            bulk.insert([row for _, rows, _ in self._entries for row in rows], read_ids=False)
            posted_at = timezone.now()
            for entry, _, _ in posting:
                entry.post()
                entry.posted_at = posted_at
            bulk.insert([entry for entry, _, _ in self._entries])
            history.write(
                JournalEntry,
                [history.row(entry, actor, update=False) for entry, _, actor in self._entries],
            )
            changes.apply()
        _record_posted_by([(entry, actor) for entry, _, actor in posting])
        self._entries, self._to_post = [], set()


def post_entry(actor: Actor, *, entity: Entity, **entry: Any) -> JournalEntry:
    """Create and post one system entry inside the caller's command (see `Journal.add`)."""
    journal = Journal(entity)
    posted = journal.add(actor, **entry)
    journal.write()
    return posted


class Postings:
    """Stored entries changed in one unit of work (submitted, approved, posted), written together.

    Each change is made in memory on a locked entry (so a later request sees it)
    and kept as a historical row; `save` writes the entries once, then posts
    the ones `post`ed: their lines' movements are read in one query and moved
    onto the balances with one update.
    """

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

    def __init__(self) -> None:
        self._entries: dict[UUID, JournalEntry] = {}
        self._history: list[dict[str, Any]] = []
        self._posting: list[tuple[JournalEntry, Actor]] = []

    def changed(self, entry: JournalEntry, actor: Actor) -> None:
        self._entries[entry.id] = entry
        self._history.append(history.row(entry, actor, update=True))

    def post(self, entry: JournalEntry, actor: Actor) -> None:
        """Post a locked entry (raises `PeriodLocked` before changing anything)."""
        open_period(entry.period)
        entry.post()
        entry.posted_at = timezone.now()
        self.changed(entry, actor)
        self._posting.append((entry, actor))

    def save(self) -> None:
        movements = _stored_movements([entry.id for entry, _ in self._posting])
        changes = balances.BalanceChanges(
            [(movements.get(entry.id, {}), posting_cause(entry)) for entry, _ in self._posting]
        )
        with bulk.pipelined():
            bulk.update(list(self._entries.values()), self.STATE)
            history.write(JournalEntry, self._history)
            changes.apply()
        _record_posted_by(self._posting)


def post(actor: Actor, entry: JournalEntry) -> JournalEntry:
    """Post one locked, stored entry: status, balances, audit and event, in this transaction."""
    postings = Postings()
    postings.post(entry, actor)
    postings.save()
    return entry


def _record_posted_by(posted: list[tuple[JournalEntry, Actor]]) -> None:
    uow = current()
    for entry, actor in posted:
        with uow.acting_as(actor):
            record_posted(entry)


def _stored_movements(entry_ids: list[UUID]) -> dict[UUID, dict[UUID, int]]:
    """Signed functional movement per account of each entry's stored lines: one query."""
    if not entry_ids:
        return {}
    movements: dict[UUID, dict[UUID, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT journal_entry_id, coa_account_id,
                   SUM(CASE WHEN direction = %s THEN functional_amount_minor
                            ELSE -functional_amount_minor END)
              FROM journal_entry_line
             WHERE journal_entry_id = ANY(%s::uuid[])
             GROUP BY journal_entry_id, coa_account_id
            """,
            [DEBIT, entry_ids],
        )
        rows = cursor.fetchall()
    for entry_id, account_id, delta in rows:
        movements[entry_id][account_id] = delta
    return movements


def required_account(entity: Entity, role: str) -> Account:
    account = getattr(entity, role)
    if account is None:
        raise EntityConfigurationInvalid(
            f"Entity {entity.name} has no {role.replace('_', ' ')} configured.",
            entity_id=str(entity.id),
            missing=role,
        )
    return account


def signed_movements_by_account(entity_id: UUID) -> dict[UUID, int]:
    """Σ signed functional amounts of POSTED lines per account (the invariant's right side)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.coa_account_id,
                   SUM(CASE WHEN l.direction = 'DEBIT' THEN l.functional_amount_minor
                            ELSE -l.functional_amount_minor END)
              FROM journal_entry_line l JOIN journal_entry e ON e.id = l.journal_entry_id
             WHERE e.status = 'POSTED' AND e.entity_id = %s
             GROUP BY l.coa_account_id
            """,
            [entity_id],
        )
        return defaultdict(int, dict(cursor.fetchall()))
