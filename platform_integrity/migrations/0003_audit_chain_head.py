from django.db import migrations, models

BACKFILL = """
INSERT INTO audit_chain_head (chain, head_hash, head_id)
SELECT DISTINCT ON (chain) chain, hash, id FROM audit_event ORDER BY chain, id DESC
"""


class Migration(migrations.Migration):
    dependencies = [("platform_integrity", "0002_database_guards")]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("chain", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("head_hash", models.CharField(max_length=64)),
                ("head_id", models.BigIntegerField()),
            ],
            options={"db_table": "audit_chain_head"},
        ),
        # Room on each heap page keeps head updates HOT (no new index entries).
        migrations.RunSQL(
            "ALTER TABLE audit_chain_head SET (fillfactor = 50);",
            "ALTER TABLE audit_chain_head RESET (fillfactor);",
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
