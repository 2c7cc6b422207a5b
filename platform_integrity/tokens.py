"""Revoking API tokens: a command, so the revocation is checked, serialized and audited."""

from django.utils import timezone

from platform_integrity import audit, permissions
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.errors import NotFound, ValidationFailed
from platform_integrity.models import ApiToken

REVOKE = "platform_integrity.revoke_apitoken"


@command("platform_integrity.token_revoke")
def token_revoke(actor: Actor, *, token_id: int, reason: str) -> ApiToken:
    permissions.require(actor, REVOKE, "revoke API tokens", object_type="api_token")
    if not reason.strip():
        raise ValidationFailed("Say why the token is revoked.", errors={"reason": ["Required."]})
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    if token is None:
        raise NotFound(f"No API token {token_id}.", object_type="api_token")
    if token.revoked_at is not None:
        raise ValidationFailed(
            f"Token {token.prefix}… was already revoked.", object_type="api_token"
        )
    token.revoked_at = timezone.now()
    token.revoked_reason = reason
    token.save(update_fields=["revoked_at", "revoked_reason"])
    audit.record(
        action="platform_integrity.token_revoke",
        object_type="api_token",
        object_id=str(token.pk),
        payload={"prefix": token.prefix, "user": token.user.get_username(), "reason": reason},
    )
    return token
