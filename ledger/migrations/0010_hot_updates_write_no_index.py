import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0009_line_guards_read_nothing_shared'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='journalentry',
            name='journal_ent_entity__21a2a2_idx',
        ),
        migrations.AlterField(
            model_name='journalentry',
            name='approved_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='journalentry',
            index=models.Index(fields=['entity', '-created_at'], name='journal_ent_entity__4ba2cc_idx'),
        ),
        # Room on each page for an entry's submission and posting to stay HOT.
        migrations.RunSQL(
            "ALTER TABLE journal_entry SET (fillfactor = 50);",
            "ALTER TABLE journal_entry RESET (fillfactor);",
        ),
    ]
