"""`faceprint audit`: list, filter and export a gallery's audit log, and expire old records (retention)."""

from __future__ import annotations

import json
import time
from datetime import datetime, UTC
from pathlib import Path
from typing import Annotated, Optional

import typer

from faceprint.cli._common import console, handle_errors, print_json, table
from faceprint.cli._gallery_opts import GalleryOpt

__all__ = ["audit"]


def _when(text: str | None) -> float | None:
    """A time given as ISO date/time (UTC unless it says otherwise) or as an age: ``30d``, ``12h``, ``15m``."""
    if text is None:
        return None
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give an ISO date (2026-12-01, 2026-12-01T10:00) or an age (30d, 12h, 15m)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def audit(
    gallery: GalleryOpt = None,
    since: Annotated[Optional[str], typer.Option(help="From this time: ISO date/time (UTC) or an age such as 7d, 12h.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Before this time (same forms as --since).")] = None,
    action: Annotated[Optional[str], typer.Option(help="Only this action: enroll, identify, rename, remove, remove-face, key-create, key-revoke, expire.")] = None,
    actor: Annotated[Optional[str], typer.Option(help="Only this actor: key:<id> or user:<name>.")] = None,
    person: Annotated[Optional[str], typer.Option(help="Only records that name this person.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many records (the oldest first).")] = None,
    jsonl: Annotated[Optional[Path], typer.Option("--jsonl", help="Export the records as JSON lines to this file ('-': stdout).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
    keep_days: Annotated[Optional[float], typer.Option("--keep-days", min=0.0, help="Retention: first delete audit records, files of unknown faces (video thumbnails) and stored-cluster faces older than this many days.")] = None,
) -> None:
    """Who enrolled, identified, renamed or removed whom, and when (never an image).

    Every enrolment batch, identification, rename, removal and key change, and every request of the service that
    reads the gallery, leaves a record in the gallery: when, who (the API key id for the HTTP service, else the OS
    user), what, which people and the result. The log is append-only; --keep-days expires old records, unknown
    faces' thumbnails and stored-cluster faces by the same erasure path that removal uses.
    """
    from faceprint.errors import FaceprintError
    from faceprint.gallery.store import open_store
    from faceprint.gallery.audit import ACTIONS, expire, records

    with handle_errors():
        if action is not None and action not in ACTIONS:
            raise typer.BadParameter(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        with open_store(gallery, create=False) as g:
            expired = expire(g, keep_days) if keep_days is not None else None
            found = records(g, since=_when(since), until=_when(until), action=action, actor=actor, person=person, limit=limit)
        rows = [r.to_dict() for r in found]
        if jsonl is not None:
            lines = "".join(json.dumps(r) + "\n" for r in rows)
            if str(jsonl) == "-":
                typer.echo(lines, nl=False)
                return
            try:
                jsonl.write_text(lines)
            except OSError as exc:
                raise FaceprintError(f"{jsonl}: cannot write the export ({exc.strerror or exc})") from None
            console.print(f"wrote {len(rows)} audit records to {jsonl}", highlight=False)
            return
    if as_json:
        print_json({"expired": expired, "records": rows} if expired is not None else rows)
        return
    if expired is not None:
        console.print(f"expired {expired['audit_records']} audit records, {expired['unknown_face_files']} unknown-face files "
                      f"and {expired['unknown_cluster_faces']} stored-cluster faces "
                      f"older than {keep_days:g} days", highlight=False)
    out = table(f"{len(rows)} audit records", "time (UTC)", "actor", "action", "people", "result", "detail")
    for r in rows:
        out.add_row(str(r["time"]), str(r["actor"]), str(r["action"]), ", ".join(r["people"]), str(r["result"]),  # type: ignore[arg-type]
                    json.dumps(r["detail"]))
    console.print(out)
