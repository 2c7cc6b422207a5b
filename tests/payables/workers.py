"""Real Celery workers (subprocesses) for the tests that prove the worker path."""

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from platform_integrity.db import database_url

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    broker_url: str, *, pool: str = "solo", beat_schedule: Path | None = None, **env: str
) -> subprocess.Popen:
    """A worker on the test database taking tasks from `broker_url`; `env` adds settings.

    With `beat_schedule`, it runs beat too (the relay and the sweeper on their schedules).
    """
    command = [
        str(Path(sys.executable).parent / "celery"),
        *("-A", "config", "worker", f"--pool={pool}", "--concurrency=1", "-l", "warning"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    if beat_schedule is not None:
        command += ["--beat", "--schedule", str(beat_schedule)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "REDIS_URL": broker_url,
            "CONN_MAX_AGE": "0",
            **env,
        },
    )


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a prefork worker's pool)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The command name, in parentheses, may hold spaces: the fields follow it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
    return children


@contextlib.contextmanager
def celery_sending_to(broker_url: str) -> Iterator[None]:
    """This process's Celery app sends its tasks to `broker_url` (not eagerly)."""
    from config.celery import app

    previous_broker, eager = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = broker_url, False
    app.amqp._producer_pool = None
    app._pool = None
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = previous_broker, eager
        app.amqp._producer_pool = None
        app._pool = None


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return found
