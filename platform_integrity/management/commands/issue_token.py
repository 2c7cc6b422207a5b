from django.core.management.base import BaseCommand, CommandError

from platform_integrity.accounts import user_with_role
from platform_integrity.roles import ROLES
from platform_integrity.web.auth import issue_token


class Command(BaseCommand):
    help = "Issue an API token for a user (created if needed) with the given role; prints it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument(
            "--days", type=int, help="lifetime in days (default RIVANE_TOKEN_TTL_DAYS)"
        )

    def handle(self, username, role, days, **options):
        if days is not None and not 1 <= days <= 3660:
            raise CommandError("--days must be between 1 and 3660.")
        try:
            user = user_with_role(username, role)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(issue_token(user, days))
