from django.core.management.base import BaseCommand, CommandError

from platform_integrity.accounts import user_with_role
from platform_integrity.roles import ROLES
from platform_integrity.web.auth import issue_token


class Command(BaseCommand):
    help = "Create or update a user with a role (roles accumulate); --token prints a new API token."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password")
        parser.add_argument("--token", action="store_true", help="print a fresh API token last")

    def handle(self, username, role, password, token, **options):
        try:
            user = user_with_role(username, role, password)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        roles = ", ".join(sorted(user.groups.values_list("name", flat=True)))
        self.stdout.write(f"user {user.username}: roles {roles}")
        if token:
            self.stdout.write(issue_token(user))
