import datetime

from django.db import migrations, models
from django.db.models import F


def expire_existing_tokens(apps, schema_editor):
    """Tokens issued before expiry existed live the default lifetime from their issue."""
    from django.conf import settings

    lifetime = datetime.timedelta(days=settings.RIVANE_TOKEN_TTL_DAYS)
    apps.get_model("platform_integrity", "ApiToken").objects.update(
        expires_at=F("created_at") + lifetime
    )


class Migration(migrations.Migration):
    dependencies = [
        ("platform_integrity", "0007_queue_call_in_one_round_trip"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apitoken",
            options={"permissions": [("revoke_apitoken", "Can revoke API tokens")]},
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(expire_existing_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_reason",
            field=models.CharField(blank=True, max_length=500),
        ),
    ]
