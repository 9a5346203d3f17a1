"""One erasure path: what `people remove`, `remove-face`, ``DELETE /v1/people/{name}`` and retention all go through.

Face embeddings and crops are biometric data; a person who is removed must be gone from every store faceprint
wrote, not only from the rows that `people list` reads. An erasure is planned, then done in steps, each of which
can be repeated (docs/privacy.md lists what each step guarantees and what it cannot):

1. ``rows``: in one gallery transaction a pending-erasure record (the plan) is written and the faces (vectors
   cascade), the people, the faces' crops and every fitted classifier are deleted; the gallery connection has
   ``secure_delete`` on, so SQLite overwrites the deleted cells and freed pages with zeros; then a
   ``wal_checkpoint(TRUNCATE)`` empties the ``-wal`` file, which held page images from the enrolment.
2. ``clusters``: stored clusters (blobs ``clusters:*``) lose the faces of the removed photos.
3. ``faiss``: FAISS index files beside the gallery are deleted (rebuilt from the gallery on next use).
4. ``milvus``: a milvus-lite index beside the gallery has the partitions of the removed faces' people dropped
   (their segment files go) and refilled from the gallery (milvus-lite never compacts: a delete there is a
   tombstone and the vector stays in the segment file); an index without partitions is deleted and rebuilt whole.
   A Milvus server's collection (recorded in the gallery when it was built) has the same partitions dropped and
   refilled; one of a model the gallery no longer holds, or of other settings, is dropped whole. A server that
   does not answer leaves the erasure pending after the other steps (the removal fails and says so; the gallery
   still opens, and an open with the server back finishes it).
5. ``caches``: rows of the photo cache (``photos.sqlite`` in the cache directory, `faceprint.cache`) whose photo
   is a removed face's source (by path, by content hash, or by holding one of the removed vectors) are deleted with
   ``secure_delete`` and a WAL truncation.
6. ``files``: video thumbnails recorded as showing the person are deleted.
7. ``done``: the pending record goes, and the gallery is purged (`GalleryStore.purge`): SQLite's WAL is truncated
   again; PostgreSQL runs VACUUM FULL of the gallery's tables, a WAL switch and a checkpoint. What the purge could
   not do (a server setting, a missing privilege) is recorded in the audit log as a ``purge`` ``incomplete``.

The plan holds ids, paths and digests (sha256 of each removed vector's bytes and of each photo), never a vector
or an image. A process killed after step 1 leaves the plan in the gallery; the next open of the gallery runs steps
2 to 7 again (`finish_pending`). A process killed during step 1 changed nothing (the transaction rolls back).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from faceprint.errors import GalleryError, UnknownPerson
from faceprint.gallery.store import Gallery, Removed
from faceprint.gallery.stored_clusters import drop_faces

__all__ = ["STEPS", "ErasurePlan", "ErasureReport", "erase_face", "erase_person", "expire_cluster_faces", "expire_unknown_files", "finish_pending", "plan_erasure", "purge"]

log = logging.getLogger(__name__)
T = TypeVar("T")

STEPS = ("rows", "clusters", "faiss", "milvus", "caches", "files", "done")
NEAR = 1e-4
"""A cached vector this close (euclidean, relative to its norm) to a removed one is the same photo's embedding
computed in another batch (float rounding differs by batch size): it is erased too."""


@dataclass(frozen=True)
class ErasurePlan:
    """What one erasure forgets. JSON-serialisable; holds no vector and no image."""

    id: str
    reason: str
    people: tuple[str, ...]
    person_ids: tuple[int, ...]
    face_ids: tuple[int, ...]
    sources: tuple[str, ...]
    """Absolute paths of the removed faces' photos (uploads have none)."""
    photo_sha256: tuple[str, ...]
    photo_sizes: tuple[int, ...]
    """Sizes of the photos still on disk: cached files of these sizes are hashed to find copies."""
    vector_sha256: tuple[str, ...]
    models: tuple[str, ...]
    owner_ids: tuple[int, ...] = ()
    """Person ids of the removed faces (their Milvus partitions are rebuilt)."""
    created: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ErasurePlan:
        d = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]


@dataclass
class ErasureReport:
    """What an erasure deleted, per store."""

    plan: ErasurePlan
    faces: int = 0
    cluster_faces: int = 0
    faiss_files: int = 0
    milvus: list[str] = field(default_factory=list)
    """One line per Milvus index: partitions rebuilt, rebuilt whole, dropped or deleted."""
    cache_rows: int = 0
    files: int = 0
    unpurged: list[str] = field(default_factory=list)
    """What the gallery's purge (the last step) could not do: the deleted rows' bytes may still be in its files
    (a reader held the SQLite WAL; on PostgreSQL a server setting or a missing privilege; docs/privacy.md)."""
    removed: Removed | None = None
    """The faces that left the gallery (ids, content hashes, sources, in face-id order)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each step (STEPS)."""

    def to_dict(self) -> dict[str, object]:
        return {"people": list(self.plan.people), "faces": self.faces, "cluster_faces": self.cluster_faces,
                "faiss_files": self.faiss_files, "milvus": self.milvus, "cache_rows": self.cache_rows,
                "files": self.files, "purged": not self.unpurged, "unpurged": self.unpurged,
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_path(source: str) -> Path | None:
    if source.startswith("upload:"):
        return None
    try:
        return Path(source).resolve()
    except (OSError, RuntimeError):
        return None


# -- planning ---------------------------------------------------------------------------------------------------


def plan_erasure(gallery: Gallery, *, person: str | None = None, face_ids: list[int] | None = None,
                 reason: str = "remove") -> tuple[ErasurePlan, list[np.ndarray], Removed]:
    """The plan of erasing one person (every face) or some faces, the removed vectors (kept in memory only, to
    find near-identical cached copies), and what will leave the gallery."""
    if (person is None) == (face_ids is None):
        raise ValueError("give a person or face ids")
    people: list[str] = []
    person_ids: list[int] = []
    if person is not None:
        person_ids = [gallery.person_id(person)]
        people = [person]
        faces = gallery.faces(person)
    else:
        wanted = {int(f) for f in face_ids or []}
        faces = [f for f in gallery.faces() if f.id in wanted]
        missing = wanted - {f.id for f in faces}
        if missing:
            raise UnknownPerson(f"no face with id {min(missing)} in {gallery.path}")
        people = sorted({f.person for f in faces})
    ids = [f.id for f in faces]
    owner = {n: gallery.person_id(n) for n in {f.person for f in faces}}
    vectors = gallery.face_vectors(ids)
    sources, sizes = [], []
    for f in faces:
        p = _file_path(f.source)
        if p is not None:
            sources.append(str(p))
            try:
                sizes.append(p.stat().st_size)
            except OSError:
                pass
    plan = ErasurePlan(
        id=uuid.uuid4().hex, reason=reason, people=tuple(people), person_ids=tuple(person_ids), face_ids=tuple(ids),
        sources=tuple(sorted(set(sources))), photo_sha256=tuple(sorted({f.sha256 for f in faces})),
        photo_sizes=tuple(sorted(set(sizes))), vector_sha256=tuple(sorted({_digest(v) for _, _, v in vectors})),
        models=tuple(sorted({m for _, m, _ in vectors})),
        owner_ids=tuple(sorted({owner[f.person] for f in faces})),
    )
    by_dim: dict[int, list[np.ndarray]] = {}
    for _, _, v in vectors:
        arr = np.frombuffer(v, "<f4")
        by_dim.setdefault(arr.size, []).append(arr)
    near = [np.stack(vs) for vs in by_dim.values()]
    faces = sorted(faces, key=lambda f: f.id)
    removed = Removed(person, tuple(f.id for f in faces), tuple(f.sha256 for f in faces), tuple(f.source for f in faces))
    return plan, near, removed


# -- the steps --------------------------------------------------------------------------------------------------


def _kill_point(step: str, report: ErasureReport, t0: float) -> float:
    """End of a step: its time goes into the report. Tests of interrupted erasure set FACEPRINT_TEST_KILL_AFTER to a
    step name: the process then kills itself with SIGKILL right after that step, as `kill -9` would."""
    now = time.perf_counter()
    report.seconds[step] = now - t0
    if os.environ.get("FACEPRINT_TEST_KILL_AFTER") == step:
        os.kill(os.getpid(), signal.SIGKILL)
    return now


def erase_person(gallery: Gallery, name: str, *, cache_folder: str | os.PathLike[str] | None = None,
                 reason: str = "remove") -> ErasureReport:
    """Erase a person: every face, vector and crop, and every copy faceprint derived (see the module's steps).

    Raises:
        UnknownPerson: nobody of that name is enrolled.
    """
    plan, near, removed = plan_erasure(gallery, person=name, reason=reason)
    return _run(gallery, plan, near, cache_folder, removed)


def erase_face(gallery: Gallery, face_id: int, *, cache_folder: str | os.PathLike[str] | None = None,
               reason: str = "remove-face") -> ErasureReport:
    """Erase one enrolled face (its vectors, crop and derived copies); the person stays.

    Raises:
        UnknownPerson: no face of that id.
    """
    plan, near, removed = plan_erasure(gallery, face_ids=[face_id], reason=reason)
    return _run(gallery, plan, near, cache_folder, removed)


def _run(gallery: Gallery, plan: ErasurePlan, near: list[np.ndarray], cache_folder: str | os.PathLike[str] | None,
         removed: Removed) -> ErasureReport:
    if gallery.read_only:
        raise GalleryError(f"{gallery.path}: the gallery is read-only; erasure needs write access to it")
    if not gallery.has_audit:
        raise GalleryError(f"{gallery.path}: this gallery's schema has no erasure records; open it once with write access")
    report = ErasureReport(plan, removed=removed)
    with _erasing(gallery, wait=True):
        t = time.perf_counter()
        gallery.erase_rows(plan.id, plan.to_json(), list(plan.face_ids), list(plan.person_ids),
                           (plan.reason, list(plan.people), {"faces": len(plan.face_ids)}))
        report.faces = len(plan.face_ids)
        gallery.checkpoint()
        _kill_point("rows", report, t)
        _derived(gallery, plan, near, cache_folder, report)
    return report


@contextmanager
def _erasing(gallery: Gallery, wait: bool) -> Iterator[bool]:
    """Hold the gallery's erasure lock (an flock on ``<gallery>.erasure.lock``, or on a file in the temporary folder
    for a database): one erasure at a time on this host, and a process that opens the gallery while another is
    still erasing does not take over its pending record. Yields False when `wait` is off and another holds it."""
    if isinstance(gallery.path, Path):
        lock = gallery.path.with_name(gallery.path.name + ".erasure.lock")
    else:
        lock = Path(tempfile.gettempdir()) / f"faceprint-erasure-{_digest(str(gallery.path).encode())[:16]}.lock"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _derived(gallery: Gallery, plan: ErasurePlan, near: list[np.ndarray], cache_folder: str | os.PathLike[str] | None,
             report: ErasureReport) -> None:
    """Steps 2 to 7 (each may run again after an interruption)."""
    t = time.perf_counter()
    report.cluster_faces = _scrub_clusters(gallery, plan, near)
    t = _kill_point("clusters", report, t)
    if plan.face_ids:  # the gallery's vectors changed (retention of stored-cluster faces changes none)
        report.faiss_files = _drop_faiss(gallery)
    t = _kill_point("faiss", report, t)
    unreachable: GalleryError | None = None
    if plan.face_ids:
        try:
            report.milvus = _erase_milvus(gallery, plan)
        except GalleryError as exc:  # a Milvus server that cannot be reached now: the other steps go on
            unreachable = exc
    t = _kill_point("milvus", report, t)
    folder = Path(cache_folder) if cache_folder is not None else _cache_dir()
    report.cache_rows = _scrub_caches(folder, plan, near)
    t = _kill_point("caches", report, t)
    report.files = _delete_files(gallery, list(plan.person_ids))
    t = _kill_point("files", report, t)
    if unreachable is None:
        gallery.erasure_done(plan.id)
    report.unpurged = purge(gallery, list(plan.people), plan.reason)
    _kill_point("done", report, t)
    who = ", ".join(plan.people) or "faces"
    if unreachable is not None:
        raise GalleryError(f"{unreachable}. Everything else of {who} is erased; the erasure stays pending in the "
                           "gallery and finishes when the gallery is next opened with that server reachable") from None
    log.info("erased %s: %s", who, report.to_dict())


def purge(gallery: Gallery, people: list[str], why: str) -> list[str]:
    """The gallery's purge (`GalleryStore.purge`: on PostgreSQL VACUUM FULL, a WAL switch and a checkpoint); what it
    could not do is logged as a warning and recorded in the audit log (action ``purge``, result ``incomplete``), so
    that an operator can finish it (docs/privacy.md). Returns that list."""
    from faceprint.gallery.audit import record

    problems = gallery.purge()
    if problems:
        log.warning("%s: the erased rows may still be in the database's files: %s", gallery.path, "; ".join(problems))
        record(gallery, "purge", people, {"after": why, "not_done": problems}, "incomplete", required=False)
    return problems


def finish_pending(gallery: Gallery, cache_folder: str | os.PathLike[str] | None = None) -> list[ErasureReport]:
    """Finish erasures that an interrupted process left (called when a gallery is opened)."""
    out: list[ErasureReport] = []
    with _erasing(gallery, wait=False) as mine:
        if not mine:  # another process or thread is erasing now; it finishes its own record
            return out
        for _, text in gallery.pending_erasures():
            try:
                out.append(_finish(gallery, text, cache_folder))
            except GalleryError as exc:  # a Milvus server still down: the gallery opens, the erasure stays pending
                log.warning("%s: an erasure is still pending: %s", gallery.path, exc)
    return out


def _finish(gallery: Gallery, text: str, cache_folder: str | os.PathLike[str] | None) -> ErasureReport:
    plan = ErasurePlan.from_json(text)
    log.warning("%s: finishing the interrupted erasure of %s", gallery.path, ", ".join(plan.people) or "faces")
    report = ErasureReport(plan, faces=len(plan.face_ids))
    gallery.checkpoint()
    _derived(gallery, plan, [], cache_folder, report)
    return report


def _cache_dir() -> Path:
    from faceprint.models import cache_dir

    return cache_dir()


def _matches(vectors: np.ndarray, plan: ErasurePlan, near: list[np.ndarray]) -> np.ndarray:
    """Which rows of `vectors` (N, D float32) are one of the removed vectors, exactly or nearly."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, bool)
    digests = set(plan.vector_sha256)
    x = np.ascontiguousarray(vectors, "<f4")
    exact_only = digests and not any(ref.shape[1] == x.shape[1] for ref in near)  # the near test covers exact ones
    hit = np.array([_digest(row.tobytes()) in digests for row in x], bool) if exact_only else np.zeros(n, bool)
    x64 = x.astype(np.float64)  # float32's cancellation leaves ~1e-7 for an exact copy, above NEAR**2 = 1e-8
    for ref in near:
        if ref.shape[1] != x.shape[1]:
            continue
        r64 = ref.astype(np.float64)
        d2 = (x64 * x64).sum(1)[:, None] + (r64 * r64).sum(1)[None, :] - 2.0 * x64 @ r64.T
        scale = np.maximum((r64 * r64).sum(1)[None, :], 1e-12)
        hit |= (np.maximum(d2, 0.0) <= (NEAR**2) * scale).any(1)
    return hit


def _same_photo(path: str, sizes: set[int], hashes: set[str], sources: set[str]) -> bool:
    """Whether a photo path is a removed face's source: the same path, or a file of the same content (hashed only
    when its size is one of the removed photos' sizes)."""
    if path in sources:
        return True
    if not sizes:
        return False
    try:
        size = os.stat(path).st_size
    except OSError:
        return False
    if size not in sizes:
        return False
    try:
        return _digest(Path(path).read_bytes()) in hashes
    except OSError:
        return False


def _scrub_clusters(gallery: Gallery, plan: ErasurePlan, near: list[np.ndarray]) -> int:
    """Drop the removed photos' faces from every stored clustering (blobs ``clusters:*``)."""
    sources, hashes, sizes = set(plan.sources), set(plan.photo_sha256), set(plan.photo_sizes)

    def gone(faces: list[dict[str, Any]], vecs: np.ndarray) -> np.ndarray:
        out = _matches(vecs, plan, near) if vecs.shape[1] else np.zeros(len(faces), bool)
        for i, f in enumerate(faces):
            if not out[i]:  # (a face kept from an upload records its photo's sha256: cluster/review.py)
                out[i] = f.get("sha256") in hashes or _same_photo(str(Path(f["image"]).resolve()), sizes, hashes, sources)
        return out

    return drop_faces(gallery, gone)


def _drop_faiss(gallery: Gallery) -> int:
    """Delete the FAISS index files of this gallery (they hold its vectors; the next search rebuilds them)."""
    if not isinstance(gallery.path, Path):  # a database: no files beside it
        return 0
    p = Path(gallery.path)
    n = 0
    for q in p.parent.glob(f"{p.name}.*"):
        if ".faiss" in q.name[len(p.name):] and q.is_file():
            q.unlink(missing_ok=True)
            n += 1
    return n


def _erase_milvus(gallery: Gallery, plan: ErasurePlan) -> list[str]:
    """Erase the removed faces from every Milvus index of this gallery: in a milvus-lite index beside the file the
    removed people's partitions are rebuilt from the gallery, or the whole index when it has no partitions (its
    deletes are tombstones until a compaction that milvus-lite never runs); a server's collection has the same
    partitions rebuilt, or is dropped (_erase_server)."""
    p = Path(gallery.path) if isinstance(gallery.path, Path) else None
    lines: list[str] = []
    lite = [q for q in p.parent.glob(f"{p.name}.*.milvus.db")] if p is not None else []
    servers = _milvus_servers(gallery)
    if not lite and not servers:
        return lines
    from faceprint.gallery import milvus_index as mi

    current: dict[Path, str] = {}
    uid = gallery.get_setting("gallery_uid") or ""
    for name in gallery.models():
        current[Path(mi.milvus_target(gallery.path, uid, mi.index_key(gallery, name)).uri).resolve()] = name
    for db in lite:
        model: str | None = current.get(db.resolve())
        if model is not None:
            try:
                done = mi.erase_partitions(gallery, model, list(plan.owner_ids))
            except Exception as exc:  # noqa: BLE001  (any Milvus failure: the whole index is rebuilt instead)
                log.warning("%s: erasing by partition failed (%s); rebuilding the index", db.name, exc)
                done = None
            if done is not None:
                lines.append(f"{db.name}: {done}")
                continue
        _drop_lite(db)
        if model is None:
            lines.append(f"{db.name}: deleted (an index of no current model)")
            continue
        try:
            with mi.load_or_build_milvus(gallery, model) as index:
                lines.append(f"{db.name}: rebuilt from the gallery ({len(index)} faces)")
        except GalleryError:  # no faces of this model left: nothing to index
            lines.append(f"{db.name}: deleted (no faces of {model} left)")
    on_server = {mi.server_collection(uid, mi.index_key(gallery, name)): name for name in gallery.models()}
    for uri, collection in servers:
        lines.append(_erase_server(gallery, uri, collection, on_server.get(collection), plan))
    return lines


def _drop_lite(db: Path) -> None:
    """Delete a milvus-lite database (a folder, or a file and its lock) whole: the drop of its collection leaves
    nothing of the vectors in it, and removing the folder leaves nothing at all."""
    if db.is_dir():
        shutil.rmtree(db)
    else:
        db.unlink(missing_ok=True)
    for extra in db.parent.glob(f".{db.name}*"):  # milvus-lite's lock file
        if extra.is_file():
            extra.unlink(missing_ok=True)


def _milvus_servers(gallery: Gallery) -> list[tuple[str, str]]:
    """(uri, collection) of the Milvus server collections built from this gallery (recorded by milvus_index)."""
    raw = gallery.get_setting("milvus_collections")
    return [tuple(x) for x in json.loads(raw)] if raw else []  # type: ignore[misc]


SERVER_PATIENCE_S = 5.0
"""How long erasure keeps trying a Milvus server that does not answer before it leaves the erasure pending."""


def _erase_server(gallery: Gallery, uri: str, collection: str, model: str | None, plan: ErasurePlan) -> str:
    """Erase the removed faces from one Milvus server collection built from this gallery: the partitions of the
    removed people are dropped and refilled from the gallery, as beside a file (a delete with a compaction leaves
    the rows in the segment files of a server that does not compact, milvus-lite's own); a collection of a model
    the gallery no longer holds, or of other settings, is dropped whole (the next search builds it again)."""
    from faceprint.gallery import milvus_index as mi

    target = mi.MilvusTarget(uri, collection)
    deadline = time.monotonic() + SERVER_PATIENCE_S
    while True:  # pymilvus shares one connection per server, which needs a moment to recover after a restart
        try:
            present = _on_server(target, lambda client: client.has_collection(collection))
            break
        except GalleryError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    if not present:
        return f"{uri}/{collection}: absent"
    if model is not None:
        try:
            done = mi.erase_partitions(gallery, model, list(plan.owner_ids), target=target)
        except Exception as exc:  # noqa: BLE001  (any Milvus failure: the collection is dropped instead)
            log.warning("%s/%s: erasing by partition failed (%s); dropping the collection", uri, collection, exc)
            done = None
        if done is not None:
            return f"{uri}/{collection}: {done}"
    _on_server(target, lambda client: client.drop_collection(collection))
    return f"{uri}/{collection}: dropped (the next search with this index builds it again)"


def _on_server(target: Any, call: Callable[[Any], T]) -> T:
    """`call` with a client of the Milvus server of `target`; GalleryError when the server cannot be reached or
    refuses (pymilvus raises its own errors for a server that is down)."""
    from faceprint.gallery import milvus_index as mi

    try:
        client = mi._connect(target)
        try:
            return call(client)
        finally:
            mi._close(client, target)
    except Exception as exc:  # noqa: BLE001
        raise GalleryError(f"Milvus at {target.uri} failed while erasing from {target.collection}: {exc}") from None


def _scrub_caches(folder: Path, plan: ErasurePlan, near: list[np.ndarray]) -> int:
    """Delete the photo cache's rows of the removed photos (by path, by content hash, or holding a removed vector)."""
    from faceprint.cache import erase_photos

    return erase_photos(folder, plan.sources, plan.photo_sha256, lambda x: _matches(x, plan, near))


def _delete_files(gallery: Gallery, person_ids: list[int], unknown_before: float | None = None) -> int:
    """Delete the recorded files (video thumbnails) showing these people, or unknown faces older than a time."""
    paths = gallery.written_files(person_ids, unknown_before)
    for p in paths:
        Path(p).unlink(missing_ok=True)
    if paths:
        gallery.forget_files(paths)
    return len(paths)


def expire_cluster_faces(gallery: Gallery, before: float, *,
                         cache_folder: str | os.PathLike[str] | None = None) -> ErasureReport | None:
    """Retention: erase the stored-cluster faces (``faceprint cluster``, ``serve --cluster-unknown``) kept before
    `before` (unix time), by the erasure steps: a pending record, the faces (vectors, crops) out of the stored
    clusters, the cache rows of their photos and vectors, the purge. None when there were none."""
    from faceprint.gallery.stored_clusters import faces_kept_before

    old = faces_kept_before(gallery, before)
    if not old:
        return None
    by_dim: dict[int, list[np.ndarray]] = {}
    for _, v in old:
        if v.size:
            by_dim.setdefault(v.size, []).append(np.ascontiguousarray(v, "<f4"))
    near = [np.stack(vs) for vs in by_dim.values()]
    paths = {_file_path(str(f["image"])) for f, _ in old}
    plan = ErasurePlan(
        id=uuid.uuid4().hex, reason="expire", people=(), person_ids=(), face_ids=(),
        sources=tuple(sorted(str(p) for p in paths if p is not None)),
        photo_sha256=tuple(sorted({str(f["sha256"]) for f, _ in old if f.get("sha256")})), photo_sizes=(),
        vector_sha256=tuple(sorted({_digest(v.tobytes()) for vs in near for v in vs})), models=(),
    )
    if gallery.read_only:
        raise GalleryError(f"{gallery.path}: the gallery is read-only; retention needs write access to it")
    report = ErasureReport(plan)
    with _erasing(gallery, wait=True):
        t = time.perf_counter()
        gallery.erase_rows(plan.id, plan.to_json(), [], [])  # the pending record only: no gallery face goes
        _kill_point("rows", report, t)
        _derived(gallery, plan, near, cache_folder, report)
    return report


def expire_unknown_files(gallery: Gallery, before: float) -> int:
    """Retention: delete the recorded files of unknown faces (video thumbnails) written before `before` (unix
    time); returns how many."""
    return _delete_files(gallery, [], before)
