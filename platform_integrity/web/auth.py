"""Who calls the /v1/ API and what they may do there: bearer tokens (only a SHA-256 of
each is stored) and the permission a view requires."""

import datetime
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework import authentication, exceptions, throttling
from rest_framework.permissions import BasePermission

from platform_integrity.models import ApiToken

TOKEN_PREFIX = "rvn_"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user: AbstractBaseUser, days: int | None = None) -> str:
    """A new token for `user`, valid for `days` (default `RIVANE_TOKEN_TTL_DAYS`)."""
    lifetime = datetime.timedelta(days=days or settings.RIVANE_TOKEN_TTL_DAYS)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user,
        key_hash=token_hash(raw),
        prefix=raw[:12],
        expires_at=timezone.now() + lifetime,
    )
    return raw


# The token's user, with the "app_label.codename" of every permission it has directly
# or through its roles: one static statement (prepared after a few uses) both
# authenticates the request and loads what it may do.
TOKEN_USER_SQL = """
SELECT u.*, t.id AS token_id,
       ARRAY(SELECT ct.app_label || '.' || p.codename
               FROM auth_permission p
               JOIN django_content_type ct ON ct.id = p.content_type_id
              WHERE p.id IN (SELECT permission_id FROM auth_user_user_permissions
                              WHERE user_id = u.id
                             UNION
                             SELECT gp.permission_id FROM auth_group_permissions gp
                               JOIN auth_user_groups ug ON ug.group_id = gp.group_id
                              WHERE ug.user_id = u.id)) AS permission_names
  FROM api_token t JOIN auth_user u ON u.id = t.user_id
 WHERE t.key_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now()
"""


class FailedTokenThrottle(throttling.SimpleRateThrottle):
    """Counts refused tokens per client address; past the rate every token attempt
    from that address is refused with 429 until the window moves on, valid or not,
    so guessing learns nothing."""

    def get_rate(self) -> str:
        return settings.RIVANE_TOKEN_FAILURE_RATE

    def get_cache_key(self, request, view) -> str:
        return f"throttle_token_failures_{request.META.get('REMOTE_ADDR', '')}"

    def exhausted(self, request) -> bool:
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def refused(self, request) -> None:
        """Record one refused token."""
        self.exhausted(request)
        self.throttle_success()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        throttle = FailedTokenThrottle()
        if throttle.exhausted(request):
            raise exceptions.Throttled(throttle.wait())
        raw = header[1].decode(errors="replace")
        user = next(iter(get_user_model().objects.raw(TOKEN_USER_SQL, [token_hash(raw)])), None)
        if user is None or not user.is_active:
            throttle.refused(request)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        # Django's ModelBackend reads this cache instead of querying permissions again.
        user._perm_cache = set(user.permission_names)
        return user, user.token_id

    def authenticate_header(self, request) -> str:
        return self.keyword


def has_perm(perm: str) -> type[BasePermission]:
    """A DRF permission class requiring one model permission (granted through a role)."""

    class HasPerm(BasePermission):
        message = f"Your role does not allow this ({perm})."

        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.has_perm(perm))

    HasPerm.__name__ = f"HasPerm_{perm.replace('.', '_')}"
    return HasPerm
