from celery import shared_task

from platform_integrity import relay


@shared_task(ignore_result=True)
def relay_outbox() -> int:
    return relay.relay_pending()
