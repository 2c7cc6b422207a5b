"""Invariant checks for `verify_integrity`; each app registers its own when it is ready
(its AppConfig.ready imports the module whose checks are decorated with `invariant`).

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
    return {name: check() for name, check in CHECKS.items()}
