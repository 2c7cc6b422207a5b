"""User and role administration used by the operations commands and seed_demo."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from platform_integrity.roles import CONTROLLER_STAFF_ROLES, ROLES, ensure_roles


def user_with_role(username: str, role: str, password: str | None = None):
    """Create or update `username` and add `role` to its roles (roles accumulate)."""
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; choose from {', '.join(ROLES)}")
    if not Group.objects.filter(name=role).exists():
        ensure_roles()
    user, _ = get_user_model().objects.get_or_create(username=username)
    if password:
        user.set_password(password)
    elif not user.has_usable_password() and not user.password:
        user.set_unusable_password()
    if role in CONTROLLER_STAFF_ROLES:
        user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user
