from django import template

from ledger.money import exponent

register = template.Library()


@register.filter
def minor(amount_minor: int | None, currency_code: str) -> str:
    """`125000|minor:"USD"` -> `1,250.00 USD`, using the currency's real exponent."""
    if amount_minor is None:
        return ""
    digits = exponent(currency_code)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**digits)
    text = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    return f"{sign}{text} {currency_code}"
