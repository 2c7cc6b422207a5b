"""What an actor may do, checked by the commands themselves, so a door that forgets to
check cannot matter. Roles grant model permissions (`platform_integrity.roles`)."""

from typing import Any

from platform_integrity.context import Actor
from platform_integrity.errors import PermissionDenied

# Every permission ("app_label.codename") of a user, directly or through its roles, as a
# text array: a statement that reads users reads what they may do with them, so checking
# a permission costs no query (Django's ModelBackend reads `_perm_cache`).
PERMISSION_NAMES_SQL = """
ARRAY(SELECT ct.app_label || '.' || p.codename
        FROM auth_permission p
        JOIN django_content_type ct ON ct.id = p.content_type_id
       WHERE p.id IN (SELECT permission_id FROM auth_user_user_permissions
                       WHERE user_id = {user_id}
                      UNION
                      SELECT gp.permission_id FROM auth_group_permissions gp
                        JOIN auth_user_groups ug ON ug.group_id = gp.group_id
                       WHERE ug.user_id = {user_id}))
"""


def permission_names(user_id_column: str) -> str:
    """`PERMISSION_NAMES_SQL` for the user whose id is in `user_id_column`."""
    return PERMISSION_NAMES_SQL.format(user_id=user_id_column)


def allowed(actor: Actor, perm: str) -> bool:
    """The platform acting on its own (no user, channel SYSTEM) may; a user needs `perm`."""
    if actor.user is None:
        return actor.channel == "SYSTEM"
    return actor.user.has_perm(perm)


def require(actor: Actor, perm: str, action: str, **extra: Any) -> None:
    """Refuse with 403 `permission_denied` unless the actor's roles allow `perm`."""
    if not allowed(actor, perm):
        raise PermissionDenied(
            f"{actor.username} may not {action}: no role of theirs allows it.",
            permission=perm,
            **extra,
        )
