"""Presentation of money on the screens: minor units shown in major units."""

from django import template

from ledger import money

register = template.Library()


@register.filter
def major(amount_minor: int | None, currency: str) -> str:
    return money.format_major(amount_minor, currency)


@register.filter
def status_label(status: str) -> str:
    return status.replace("_", " ").capitalize()


@register.filter(name="money")
def money_with_code(amount_minor: int | None, currency: str) -> str:
    """`125000|money:"USD"` -> "1,250.00 USD"."""
    return money.format_money(amount_minor, currency)
