"""Presentation of money on the screens: minor units shown in major units."""

from decimal import Decimal

from django import template

from ledger import money

register = template.Library()


def format_major(amount_minor: int | None, currency: str) -> str:
    """12345, "USD" -> "123.45"; JPY has no decimals, BHD three."""
    if amount_minor is None:
        return ""
    digits = money.exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):,.{digits}f}"


@register.filter
def major(amount_minor: int | None, currency: str) -> str:
    return format_major(amount_minor, currency)


@register.filter
def status_label(status: str) -> str:
    return status.replace("_", " ").capitalize()
