"""Load the demo company (`ops.demo`) through the commands (used by `make run`).

Idempotent: when the demo company exists it prints the logins again and stops.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from ops import demo
from platform_integrity.web.auth import issue_token


class Command(BaseCommand):
    help = "Load the demo company (two entities, chart, period, rates, users, entries, bills)."

    def handle(self, **options) -> None:
        if demo.is_loaded():
            self.stdout.write(f"The demo company ({demo.US_NAME}) is already loaded.")
            self.print_logins(token=None)
            return

        company = demo.load(timezone.localdate())
        token = issue_token(company.users["sync-bot"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo company loaded: {demo.US_NAME} (USD) and {demo.UK_NAME} (GBP), "
                f"period {company.us.period.name}, {len(company.bills)} open bills."
            )
        )
        self.print_logins(token=token)

    def print_logins(self, token: str | None) -> None:
        self.stdout.write("Sign in at /accounts/login/ with:")
        for username, role, password in demo.LOGINS:
            self.stdout.write(f"  {role:<12} {username:<9} password: {password}")
        self.stdout.write("  (dave is also a superuser: /admin/ shows users and roles)")
        if token:
            self.stdout.write(f"API token for sync-bot (Authorization: Bearer …): {token}")
        else:
            self.stdout.write(
                "API token for sync-bot: printed when the demo was first loaded; issue a new one "
                "with `python manage.py create_user sync-bot --role integration --token`."
            )
