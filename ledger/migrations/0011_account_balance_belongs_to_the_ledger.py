import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The account_balance table, unchanged, now belongs to the ledger's models."""

    dependencies = [
        ("ledger", "0010_hot_updates_write_no_index"),
        ("platform_integrity", "0011_transaction_scoped_turns"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AccountBalance",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("balance_minor", models.BigIntegerField(default=0)),
                        ("currency_code", models.CharField(max_length=3)),
                        ("version", models.BigIntegerField(default=0)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "account",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="balance",
                                to="ledger.account",
                            ),
                        ),
                        (
                            "entity",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="ledger.entity",
                            ),
                        ),
                    ],
                    options={"db_table": "account_balance"},
                ),
            ]
        ),
    ]
