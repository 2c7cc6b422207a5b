"""Currencies (ISO 4217 exponents from the iso4217 package) and conversion at spot."""

import functools
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from iso4217 import Currency

from ledger.errors import FxRateMissing, UnknownCurrency

MAX_MINOR = 2**63 - 1  # what a bigint column holds

# What people type: "1250", "1250.00", "12,500.00" (ASCII digits only, commas in
# groups of three). Exponents, underscores, other scripts' digits are not amounts.
MAJOR_AMOUNT = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")


@functools.cache
def exponent(code: str) -> int:
    try:
        digits = Currency(code).exponent
    except ValueError:
        digits = None
    if digits is None:
        raise UnknownCurrency(
            f"{code!r} is not an ISO 4217 currency with minor units.", currency=code
        )
    return digits


class AmountInvalid(ValueError):
    """Text that is not an amount of the currency; the message says why, for a form."""


def parse_major(text: str, currency: str) -> int:
    """ "12,500.00", "USD" -> 1250000 minor units; refuses what is not a plain
    non-negative decimal, more decimals than the currency has, or more than a bigint."""
    digits = exponent(currency)
    cleaned = text.strip()
    if not MAJOR_AMOUNT.fullmatch(cleaned):
        example = format_major(1250 * 10**digits, currency)
        raise AmountInvalid(f"Enter an amount in {currency}, such as {example}.")
    minor = Decimal(cleaned.replace(",", "")).scaleb(digits)
    if minor != minor.to_integral_value():
        raise AmountInvalid(f"{currency} amounts have at most {digits} decimal places.")
    if minor > MAX_MINOR:
        raise AmountInvalid(f"Must be at most {format_major(MAX_MINOR, currency)} {currency}.")
    return int(minor)


def format_major(amount_minor: int | None, currency: str) -> str:
    """12345, "USD" -> "123.45"; JPY has no decimals, BHD three."""
    if amount_minor is None:
        return ""
    digits = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):,.{digits}f}"


def format_money(amount_minor: int | None, currency: str) -> str:
    """12345, "USD" -> "123.45 USD", as every screen and admin page shows an amount."""
    if amount_minor is None:
        return ""
    return f"{format_major(amount_minor, currency)} {currency}"


def is_currency(code: str) -> bool:
    try:
        exponent(code)
    except UnknownCurrency:
        return False
    return True


def spot_rate(base: str, quote: str, on: date) -> Decimal:
    """1 `base` = rate `quote`: the latest rate dated on or before `on`, direct or inverse."""
    from ledger.models import FxRate

    if base == quote:
        return Decimal(1)
    rate = (
        FxRate.objects.filter(base_currency=base, quote_currency=quote, as_of__lte=on)
        .order_by("-as_of")
        .first()
    )
    inverse = (
        FxRate.objects.filter(base_currency=quote, quote_currency=base, as_of__lte=on)
        .order_by("-as_of")
        .first()
    )
    if rate and (inverse is None or rate.as_of >= inverse.as_of):
        return rate.rate
    if inverse:
        return Decimal(1) / inverse.rate
    raise FxRateMissing(
        f"No {base}/{quote} rate on or before {on.isoformat()}.",
        base_currency=base,
        quote_currency=quote,
        as_of=on.isoformat(),
    )


def exact_functional(amount_minor: int, currency: str, functional: str, rate: Decimal) -> Decimal:
    """The exact functional amount, in functional minor units, before any rounding."""
    scale = Decimal(10) ** (exponent(functional) - exponent(currency))
    return Decimal(amount_minor) * rate * scale


def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Allocation:
    amounts: list[int]
    total: int


def allocate(exact: list[Decimal]) -> Allocation:
    """Round each amount half-even, then move the residual onto the lines that
    lost the most to rounding (largest remainder), so the parts add up to the
    half-even rounding of the exact total."""
    total = half_even(sum(exact, Decimal(0)))
    amounts = [half_even(x) for x in exact]
    residual = total - sum(amounts)
    if residual:
        step = 1 if residual > 0 else -1
        # Lines whose rounding moved them furthest against the residual go first.
        order = sorted(range(len(exact)), key=lambda i: (exact[i] - amounts[i]) * -step)
        for i in order[: abs(residual)]:
            amounts[i] += step
    return Allocation(amounts=amounts, total=total)
