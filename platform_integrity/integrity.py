"""Invariant checks for `verify_integrity`; each app registers its own.

A check returns human-readable violations; an empty list means it holds.
"""

from collections.abc import Callable

Check = Callable[[], list[str]]
CHECKS: dict[str, Check] = {}


def invariant(name: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        CHECKS[name] = check
        return check

    return register


def run_all() -> dict[str, list[str]]:
    from django.apps import apps

    for app in apps.get_app_configs():
        try:
            __import__(f"{app.name}.invariants")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app.name}.invariants":
                raise
    return {name: check() for name, check in CHECKS.items()}
