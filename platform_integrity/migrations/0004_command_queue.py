import django.core.serializers.json
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('platform_integrity', '0003_audit_chain_head'),
    ]

    operations = [
        migrations.CreateModel(
            name='QueuedCommand',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('chain', models.CharField(max_length=64)),
                ('command', models.CharField(max_length=64)),
                ('user_id', models.BigIntegerField(null=True)),
                ('channel', models.CharField(max_length=8)),
                ('ip', models.GenericIPAddressField(blank=True, null=True)),
                ('arguments', models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('enqueued_at', models.DateTimeField(auto_now_add=True)),
                ('outcome', models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder, null=True)),
            ],
            options={
                'db_table': 'queued_command',
                'indexes': [models.Index(fields=['chain', 'command', 'id'], name='queued_comm_chain_0805f7_idx')],
            },
        ),
        # Queue rows are not money (see the model); room on each page keeps the
        # outcome update HOT, so it adds no index entries other units could trip on.
        migrations.RunSQL(
            "ALTER TABLE queued_command SET UNLOGGED, SET (fillfactor = 50);",
            "ALTER TABLE queued_command SET LOGGED, RESET (fillfactor);",
        ),
    ]
