"""Roles are groups; what a role may do is a set of model permissions. Each app grants
its own permissions to the roles (`role_permissions` on its AppConfig, {role: [codename,
…]}) and this module collects them, so the platform names no app's permissions."""

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured

ROLES = ("accountant", "approver", "controller", "ap_clerk", "integration")
CONTROLLER_STAFF_ROLES = {"controller"}


def collect_role_permissions() -> dict[str, list[str]]:
    """Every role's permissions ("app_label.codename"), in the order the apps are installed."""
    granted: dict[str, list[str]] = {role: [] for role in ROLES}
    for app in apps.get_app_configs():
        for role, codenames in getattr(app, "role_permissions", {}).items():
            if role not in granted:
                raise ImproperlyConfigured(
                    f"{app.name} grants permissions to unknown role {role!r}"
                )
            granted[role] += [f"{app.label}.{codename}" for codename in codenames]
    return granted


# Collected on import, so this module is imported only once every app is installed (by
# PlatformIntegrityConfig.ready or later), never from a models module.
ROLE_PERMISSIONS = collect_role_permissions()


def ensure_roles(**_kwargs) -> None:
    """Create the role groups and (re)assign their permissions; run after every migrate."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
