from django.apps import AppConfig


class PlatformIntegrityConfig(AppConfig):
    name = "platform_integrity"
    verbose_name = "Platform integrity"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from platform_integrity import history, roles
        from platform_integrity.web import schema  # noqa: F401 (registers the scheme)

        post_migrate.connect(roles.ensure_roles, sender=self)
        history.connect_ip_recording()
