import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rivane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def freeze_startup_objects(**_: object) -> None:
    """A pool process keeps what it was forked with: out of the collector's sight (see
    `config.wsgi`), no full collection pauses a task holding an entity's lock for long."""
    gc.freeze()
