from django.core.management.base import BaseCommand, CommandError

from platform_integrity.accounts import user_with_role
from platform_integrity.auth import issue_token
from platform_integrity.roles import ROLES


class Command(BaseCommand):
    help = "Issue an API token for a user (created if needed) with the given role; prints it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)

    def handle(self, username, role, **options):
        try:
            user = user_with_role(username, role)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(issue_token(user))
