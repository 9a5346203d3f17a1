"""The audit log: who enrolled, identified, renamed or removed whom, and who changed the service's keys.

One append-only table in the gallery (schema step 5: triggers refuse updates, and deletes of rows newer than the
retention cut-off). Each record says when, who (``key:<id>`` for a request to the HTTP service, else
``user:<OS user>``), what (the action), which people (names, never an image or a vector) and the result (``ok`` or
the error's class name), with a few counts in ``detail``.

Who is the *actor* of the current context (a ContextVar): the service's auth dependency sets it to the request's key
(service/auth.py), everything else runs as the OS user. Writes record in the same gallery, in the same transaction
where the store allows it (rename, removal). Reads (identify) are recorded after the fact; a read-only gallery is
read without a record, which the docs state (docs/privacy.md).

Retention (`expire`): audit rows older than N days go, and so do files of unknown faces (video thumbnails) and
stored-cluster faces (each by the time it was kept), through the erasure module.
"""

from __future__ import annotations

import contextvars
import getpass
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceprint.errors import FaceprintError, GalleryError

__all__ = ["ACTIONS", "AuditRecord", "acting_as", "current_actor", "expire", "record", "record_enrolment", "record_key_change", "records", "set_actor"]

log = logging.getLogger(__name__)

ACTIONS = ("enroll", "identify", "verify", "rename", "remove", "remove-face", "retention", "key-create", "key-revoke", "expire",
           "purge", "read", "cluster-edit")

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("faceprint_audit_actor", default=None)


def current_actor() -> str:
    """Who acts now: the service request's key (``key:<id>``, ``anonymous`` on a server without keys), else the OS
    user (``user:<name>``)."""
    who = _actor.get()
    if who is not None:
        return who
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        import os

        return f"user:uid {os.getuid()}"


def set_actor(actor: str) -> None:
    """Set the actor of the current context (the service's auth dependency, once per request)."""
    _actor.set(actor)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Records made inside name `actor`."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: float
    actor: str
    action: str
    people: tuple[str, ...]
    detail: dict[str, Any]
    result: str

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "at": self.at, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
                "actor": self.actor, "action": self.action, "people": list(self.people), "detail": self.detail,
                "result": self.result}


def record(gallery: Any, action: str, people: list[str] | tuple[str, ...], detail: dict[str, Any] | None = None,
           result: str = "ok", *, required: bool = True) -> None:
    """Append one record to `gallery`'s audit log (inside the caller's transaction when there is one).

    A read-only gallery, or one older than the audit table that may not be upgraded, gets none. `required=False`
    (reads: identification) logs a warning instead of failing when the record cannot be written (the gallery is
    locked by a long write); writes fail with the record.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
    if getattr(gallery, "read_only", False) or not gallery.has_audit:
        return
    try:
        gallery.append_audit(current_actor(), action, list(people), detail or {}, result)
    except GalleryError as exc:
        if required:
            raise
        log.warning("%s: could not write the audit record of %s (%s)", gallery.path, action, exc)


def record_enrolment(gallery: Any, added: list[tuple[str, str]], model: str) -> None:
    """Record one enrolment batch (inside its transaction): one record per person, with the faces added."""
    by: dict[str, int] = {}
    for person, _ in added:
        by[person] = by.get(person, 0) + 1
    for person, n in by.items():
        record(gallery, "enroll", [person], {"faces": n, "model": model})


def records(gallery: Any, *, since: float | None = None, until: float | None = None, action: str | None = None,
            actor: str | None = None, person: str | None = None, limit: int | None = None) -> list[AuditRecord]:
    """The audit records, oldest first, filtered by time (unix seconds), action, actor and person named."""
    if not gallery.has_audit:
        return []
    return [AuditRecord(int(i), float(at), who, what, tuple(json.loads(p)), json.loads(d), res)
            for i, at, who, what, p, d, res in gallery.audit_records(since, until, action, actor, person, limit)]


def expire(gallery: Any, keep_days: float, now: float | None = None) -> dict[str, int]:
    """Retention: delete audit records, files of unknown faces (video thumbnails) and the stored-cluster faces
    (`faceprint cluster`, `faceprint serve --cluster-unknown`) older than `keep_days`; the expiry itself is
    recorded. Returns the counts."""
    from faceprint.gallery.erasure import expire_cluster_faces, expire_unknown_files, purge

    if keep_days < 0:
        raise FaceprintError(f"--keep-days must be 0 or more, got {keep_days:g}")
    before = (time.time() if now is None else now) - keep_days * 86400.0
    clusters = expire_cluster_faces(gallery, before)  # (purges the gallery's files when it erased any)
    out = {"audit_records": gallery.expire_audit(before), "unknown_face_files": expire_unknown_files(gallery, before),
           "unknown_cluster_faces": clusters.cluster_faces if clusters is not None else 0}
    record(gallery, "expire", [], {"keep_days": keep_days, **out})
    if clusters is None:
        purge(gallery, [], "expire")
    return out


def _key_galleries(keys_file: Path, bound: str | None) -> list[Path]:
    """The galleries a keys file serves: ``G.keys.sqlite`` beside gallery G, or ``DIR/.keys.sqlite`` for the
    galleries ``DIR/<name>.sqlite`` (the key's own gallery when it is bound to one)."""
    if keys_file.name == ".keys.sqlite":
        if bound is not None:
            return [keys_file.parent / f"{bound}.sqlite"]
        return sorted(p for p in keys_file.parent.glob("*.sqlite") if not p.name.startswith("."))
    stem = keys_file.name[: -len(".keys.sqlite")]
    return sorted(p for p in keys_file.parent.glob(f"{stem}.*") if p != keys_file and p.stem == stem
                  and not p.name.endswith(("-wal", "-shm", "-journal")))


def record_key_change(keys_file: str | Path, action: str, key_id: str, scope: str, bound: str | None) -> None:
    """Record the creation or revocation of a service key in the galleries it opens (the gallery beside the keys
    file, or the galleries of its folder)."""
    from faceprint.gallery.store import open_store

    for path in _key_galleries(Path(keys_file), bound):
        if not path.is_file():
            continue
        try:
            with open_store(path, create=False) as g:
                record(g, action, [], {"key": key_id, "scope": scope, "gallery": bound})
        except GalleryError as exc:
            log.warning("%s: could not record %s of key %s (%s)", path, action, key_id, exc)
