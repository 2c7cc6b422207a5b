"""What bills and payments post to the general ledger: pure functions of the documents,
handed to the ledger's one journal writer (`ledger.journal.Journal`)."""

from decimal import Decimal
from typing import Any

from ledger import money
from ledger.lines import LineInput
from ledger.models import Entity, JournalEntryLine
from ledger.rules import required_account
from payables import rules
from payables.models import Bill, Payment

DEBIT = JournalEntryLine.Direction.DEBIT
CREDIT = JournalEntryLine.Direction.CREDIT


def bill_lines(entity: Entity, number: str, currency: str, lines: list[dict[str, Any]]):
    """Dr each expense line, Cr AP control with their total, in the bill's currency."""
    ap = required_account(entity, "ap_control_account")
    total = sum(line["amount_minor"] for line in lines)
    return [
        *(
            LineInput(
                account_id=line["coa_account_id"],
                direction=DEBIT,
                amount_minor=line["amount_minor"],
                currency_code=currency,
                memo=line.get("memo", ""),
            )
            for line in lines
        ),
        LineInput(ap.id, CREDIT, total, currency, memo=f"AP: bill {number}"),
    ]


def payment_lines(
    entity: Entity, bill: Bill, payment: Payment, rate: Decimal
) -> tuple[list[LineInput], int]:
    """Dr AP at the bill's carrying amount, Cr bank at `rate` (today's spot), the FX
    difference realized; and the carrying amount the payment relieves."""
    ap = required_account(entity, "ap_control_account")
    bank = required_account(entity, "bank_account")
    functional = entity.functional_currency
    carrying = rules.carrying(bill, bill.balance_due_minor) - rules.carrying(
        bill, bill.balance_due_minor - payment.amount_minor
    )
    paid = money.half_even(
        money.exact_functional(payment.amount_minor, payment.currency_code, functional, rate)
    )
    memo = f"Payment of bill {bill.number}"
    lines = [
        LineInput(ap.id, DEBIT, payment.amount_minor, payment.currency_code, carrying, memo=memo),
        LineInput(bank.id, CREDIT, payment.amount_minor, payment.currency_code, paid, memo=memo),
    ]
    fx = carrying - paid
    if fx:
        gain_or_loss = required_account(entity, "fx_gain_loss_account")
        lines.append(
            LineInput(
                gain_or_loss.id,
                CREDIT if fx > 0 else DEBIT,
                abs(fx),
                functional,
                abs(fx),
                memo=f"Realized FX {'gain' if fx > 0 else 'loss'}: bill {bill.number}",
            )
        )
    return lines, carrying
