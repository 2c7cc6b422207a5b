from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from platform_integrity.context import Actor
from platform_integrity.errors import DomainError
from platform_integrity.models import ApiToken
from platform_integrity.tokens import token_revoke


class Command(BaseCommand):
    help = (
        "Revoke API tokens: one by its prefix (as the admin lists it, e.g. rvn_AbC12345) "
        "or every live token of --user. Audited with --reason."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("prefix", nargs="?")
        target.add_argument("--user", help="revoke every live token of this username")
        parser.add_argument("--reason", required=True)

    def handle(self, prefix, user, reason, **options):
        live = ApiToken.objects.filter(revoked_at__isnull=True)
        if user:
            if not get_user_model().objects.filter(username=user).exists():
                raise CommandError(f"No user {user}.")
            tokens = live.filter(user__username=user)
        else:
            tokens = live.filter(prefix=prefix)
        token_ids = list(tokens.values_list("pk", flat=True))
        if not token_ids:
            raise CommandError("No live token matches.")
        for token_id in token_ids:
            try:
                token = token_revoke(Actor.system(), token_id=token_id, reason=reason)
            except DomainError as err:
                raise CommandError(err.detail) from err
            self.stdout.write(f"Revoked {token.prefix}… of {token.user.get_username()}.")
