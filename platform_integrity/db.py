"""The database in use, as connection strings for processes and clients started from here
(benchmark writers, test workers), whether it listens on TCP or on a unix socket."""

from typing import Any
from urllib.parse import quote


def database_url(db: dict[str, Any], name: str | None = None) -> str:
    """A DATABASE_URL that dj-database-url parses back to `db` (a DATABASES entry)."""
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host, port, name = _host(db), db.get("PORT") or "", name or db["NAME"]
    if host.startswith("/"):
        return f"postgresql://{user}{password}@/{name}?host={host}" + (
            f"&port={port}" if port else ""
        )
    return f"postgresql://{user}{password}@{host or '127.0.0.1'}:{port or 5432}/{name}"


def libpq_dsn(db: dict[str, Any], name: str | None = None) -> str:
    """The same connection as key=value pairs for psycopg.connect."""
    parts = {
        "dbname": name or db["NAME"],
        "user": db.get("USER") or "postgres",
        "host": _host(db),
        "port": db.get("PORT"),
        "password": db.get("PASSWORD"),
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def _host(db: dict[str, Any]) -> str:
    # dj-database-url keeps a unix socket directory (`?host=/path`) in OPTIONS.
    return db.get("HOST") or db.get("OPTIONS", {}).get("host") or ""
