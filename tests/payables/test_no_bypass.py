"""Only the payables commands write balances, versions and payment status."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = set((ROOT / "payables" / "commands").glob("*.py"))
SKIPPED_DIRS = {".venv", "migrations", "tests", "var", "node_modules", ".git"}

MONEY_FIELDS = r"(balance_due_minor|open_balance_minor)"
WRITES = [
    # attribute assignment: bill.balance_due_minor = / += / -=
    re.compile(rf"\.{MONEY_FIELDS}\s*(\+|-)?=(?!=)"),
    # queryset or bulk writes naming the fields
    re.compile(rf"\.(update|bulk_update|update_or_create|create)\([^)]*\b{MONEY_FIELDS}\b"),
    re.compile(rf"F\(\s*['\"]{MONEY_FIELDS}['\"]\s*\)\s*[+-]"),
    re.compile(r"\bUPDATE\s+(bill|vendor|payment)\b", re.IGNORECASE),
    # payment status by assignment or queryset update (transitions are the only way)
    re.compile(r"payment\w*\.status\s*=(?!=)", re.IGNORECASE),
    re.compile(r"Payment\.objects[^\n]*\.update\([^)]*\bstatus\s*="),
]


def python_sources():
    for path in ROOT.rglob("*.py"):
        if SKIPPED_DIRS & set(path.relative_to(ROOT).parts) or path in ALLOWED:
            continue
        yield path


def test_no_module_but_the_commands_writes_balances_or_payment_status():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in python_sources()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if any(pattern.search(line) for pattern in WRITES)
    ]
    assert offenders == []


def test_the_scan_catches_a_bypass():
    samples = [
        "bill.balance_due_minor -= 5",
        "vendor.open_balance_minor = 0",
        "Bill.objects.filter(pk=1).update(balance_due_minor=0)",
        "cursor.execute('UPDATE bill SET balance_due_minor = 0')",
        "payment.status = 'POSTED'",
        "Payment.objects.filter(pk=1).update(status='VOID')",
    ]
    for sample in samples:
        assert any(pattern.search(sample) for pattern in WRITES), sample


def test_admin_shows_money_fields_read_only():
    from django.contrib import admin

    from payables.models import Bill, Payment, Vendor

    for model, fields in [
        (Vendor, {"open_balance_minor", "version"}),
        (Bill, {"balance_due_minor", "total_minor", "in_flight_payment", "status"}),
        (Payment, {"status", "amount_minor"}),
    ]:
        assert fields <= set(admin.site._registry[model].get_readonly_fields(None)), model
    assert not admin.site._registry[Payment].has_add_permission(None)
