"""Helpers that run writers at the same instant: threads, and spawned processes."""

import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from platform_integrity.db import database_url


def run_threads(*jobs: Callable[[], Any]) -> list[Any]:
    """Start every job behind one barrier; return each job's result (or the exception it raised)."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _pay_in_process(db_url: str, barrier, results, index: int, kwargs: dict) -> None:
    try:
        results.put((index, *_pay(db_url, barrier, kwargs)))
    except BaseException as exc:
        # Report anything else to the parent, which would otherwise wait for a result.
        barrier.abort()
        results.put((index, 0, repr(exc)))


def _pay(db_url: str, barrier, kwargs: dict) -> tuple[int, str]:
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection as child_connection

    from payables.commands import payment_submit
    from platform_integrity.context import Actor
    from platform_integrity.errors import DomainError

    actor = Actor(get_user_model().objects.get(username=kwargs.pop("username")), "API")
    barrier.wait(timeout=60)
    try:
        return 201, str(payment_submit(actor, **kwargs).id)
    except DomainError as err:
        return err.status, err.code
    finally:
        child_connection.close()


def run_processes(calls: list[dict]) -> list[tuple[int, str]]:
    """Each call pays through `payment_submit` in its own spawned process, all at once,
    against the database this test runs on."""
    db_url = database_url(connection.settings_dict)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(calls))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_pay_in_process, args=(db_url, barrier, results, i, dict(call)))
        for i, call in enumerate(calls)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=180) for _ in calls]
    for process in processes:
        process.join(timeout=180)
    return [(status, detail) for _, status, detail in sorted(collected)]
