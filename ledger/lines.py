"""An entry's lines: validated, and converted to functional currency at spot.

Everything here decides before anything is written: a request it refuses leaves
nothing behind.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from ledger import money
from ledger.errors import (
    AccountInvalid,
    AmountNotPositive,
    AmountOutOfRange,
    JournalEntryImbalanced,
    JournalEntryLinesInvalid,
    JournalEntryTooManyLines,
)
from ledger.models import MAX_LINES_PER_ENTRY, Account, Entity, JournalEntryLine
from platform_integrity import reads, wire

DEBIT = JournalEntryLine.Direction.DEBIT
CREDIT = JournalEntryLine.Direction.CREDIT


@wire.argument_type
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
    # Lines whose functional amount is fixed already (a carrying amount, a reversal's
    # copy of the original) need no rate.
    rates = {
        code: money.spot_rate(code, functional, posting_date)
        for code in {line.currency_code for line in lines if line.functional_amount_minor is None}
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


def movements_of(rows: list[JournalEntryLine]) -> dict[UUID, int]:
    deltas: dict[UUID, int] = defaultdict(int)
    for row in rows:
        deltas[row.coa_account_id] += row.signed_functional_minor
    return deltas


def reversing(lines: list[JournalEntryLine], *, memo_prefix: str = "") -> list[LineInput]:
    """Each line of a posted entry flipped, at its functional amount (not converted
    again): they net it to zero exactly."""
    flipped = {DEBIT: CREDIT, CREDIT: DEBIT}
    return [
        LineInput(
            account_id=line.coa_account_id,
            direction=flipped[line.direction],
            amount_minor=line.amount_minor,
            currency_code=line.currency_code,
            functional_amount_minor=line.functional_amount_minor,
            dimension_tags=line.dimension_tags,
            memo=f"{memo_prefix}{line.memo}"[:500],
        )
        for line in lines
    ]


def load_accounts(ids: set[UUID]) -> dict[UUID, Account]:
    return reads.by_ids(Account, ids)
