"""Currencies (ISO 4217 exponents from the iso4217 package) and conversion at spot."""

import functools
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from iso4217 import Currency

from ledger.errors import FxRateMissing, UnknownCurrency


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
