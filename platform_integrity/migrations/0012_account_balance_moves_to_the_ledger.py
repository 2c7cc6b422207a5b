from django.db import migrations


class Migration(migrations.Migration):
    """The account_balance table stays; its model is the ledger's now (ledger 0011)."""

    dependencies = [
        ("platform_integrity", "0011_transaction_scoped_turns"),
        ("ledger", "0011_account_balance_belongs_to_the_ledger"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AccountBalance")]
        ),
    ]
