import dataclasses
import datetime
import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from platform_integrity import audit_chain
from platform_integrity.context import Actor


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chains; exits non-zero if any row was altered or removed. "
        "With --anchor FILE, also checks that every head anchored in FILE by an earlier run "
        "is still in its chain, then anchors today's heads there."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            type=Path,
            metavar="FILE",
            help="the heads verified last time; keep it off the database's host",
        )

    def handle(self, *, anchor: Path | None, **options):
        anchored_then, anchored = read_anchor(anchor) if anchor else (None, [])
        verified = audit_chain.verify_chains(anchored)
        for line in verified.problems[:100]:
            self.stdout.write(f"- {line}")
        if verified.problems:
            kept = f"; {anchor} is left as it was" if anchor else ""
            raise CommandError(f"audit chain broken: {len(verified.problems)} problem(s){kept}")
        rows = sum(head.rows for head in verified.heads)
        self.stdout.write(f"Audit chain intact ({rows} rows).")
        if anchor is None:
            self.stdout.write("Without --anchor, rows cut from the end of a chain go unnoticed.")
            return
        anchored_at = timezone.now()
        write_anchor(anchor, anchored_at, verified.heads)
        audit_chain.audit_anchor_publish(
            Actor.system(), heads=verified.heads, anchored_at=anchored_at
        )
        if anchored_then:
            checked = f"Every head anchored at {anchored_then} is still in its chain"
        else:
            checked = f"No earlier anchor in {anchor}"
        self.stdout.write(
            f"{checked}; {len(verified.heads)} heads anchored in {anchor} for the next run."
        )


def read_anchor(path: Path) -> tuple[str | None, list[audit_chain.ChainHead]]:
    """When an earlier run anchored heads in `path`, and which; none without the file."""
    try:
        stored = json.loads(path.read_text())
        return stored["anchored_at"], [audit_chain.ChainHead(**head) for head in stored["heads"]]
    except FileNotFoundError:
        return None, []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandError(f"cannot read the anchor {path}: {exc}") from exc


def write_anchor(
    path: Path, anchored_at: datetime.datetime, heads: list[audit_chain.ChainHead]
) -> None:
    """Replace the anchor in one step, so a failed write leaves the last one whole."""
    document = {
        "anchored_at": anchored_at.isoformat(),
        "heads": [dataclasses.asdict(head) for head in heads],
    }
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w") as file:
        json.dump(document, file, indent=2)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
