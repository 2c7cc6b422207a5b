from django.apps import AppConfig


class PlatformIntegrityConfig(AppConfig):
    name = "platform_integrity"
    verbose_name = "Platform integrity"
    # What each role may do with the platform's own tables (see `roles`, which collects
    # this and every other app's `role_permissions`).
    role_permissions = {
        "controller": [
            "view_auditevent",
            "view_contentioncounter",
            "view_outboxevent",
            "view_apitoken",
            "revoke_apitoken",
            "view_idempotencykey",
        ],
        # Polls the event feed; reading the audit log (every actor's IP and payload)
        # stays the controller's.
        "integration": ["view_outboxevent", "view_contentioncounter"],
    }

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from platform_integrity import history, roles
        from platform_integrity.web import schema  # noqa: F401 (registers the scheme)

        post_migrate.connect(roles.ensure_roles, sender=self)
        history.connect_ip_recording()
