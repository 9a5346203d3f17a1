"""What every gallery store does, whatever database holds it: the records, and the rules written once.

`GalleryStore` is a template-method base: the SQL that both databases speak (people, faces, vectors, settings,
stored objects, model identities) and every rule (names, one embedding per image and model, stale vectors, the
messages) live here; a backend (sqlite.py, postgres.py) supplies the connection, transactions, the schema steps and
the few statements its dialect writes differently. Statements use ``?`` placeholders; a backend translates them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import platformdirs

from faceprint.errors import AlreadyEnrolled, EmptyGallery, GalleryError, InvalidName, ModelNotInGallery, StaleEmbeddings, UnknownPerson
from faceprint.names import check_name as _name_rule
from faceprint.recognize.identifier import GalleryEmbeddings
from faceprint.types import Face, face_from_json, face_to_json

if TYPE_CHECKING:
    from faceprint.models.identity import ModelIdentity

__all__ = [
    "GalleryStore", "GalleryEmbeddings", "FollowedVectors", "PersonInfo", "FaceRecord", "Removed", "check_name", "face_image_key",
    "default_gallery_path", "is_postgres_url",
]


def check_name(name: str) -> str:
    """A person's name as stored: faceprint.names' one rule, in its normalised form (InvalidName otherwise)."""
    return _name_rule(name)


def face_image_key(face_id: int) -> str:
    """The blob key of an enrolled face's crop (kept by the HTTP service); removed with the face."""
    return f"face-image:{face_id}"


def is_postgres_url(target: object) -> bool:
    """Whether a gallery argument names a PostgreSQL database (``postgresql://...`` or ``postgres://...``)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def shown_target(target: object) -> str:
    """A gallery argument as messages show it: a PostgreSQL URL without its password."""
    if is_postgres_url(target):
        from faceprint.gallery.store.postgres import display_url

        return display_url(str(target))
    return str(target)


def default_gallery_path() -> Path | str:
    """$FACEPRINT_GALLERY (a file or a postgresql:// URL), else gallery.sqlite in the user's data directory."""
    env = os.environ.get("FACEPRINT_GALLERY")
    if env and is_postgres_url(env):
        return env
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("faceprint")) / "gallery.sqlite"


@dataclass(frozen=True)
class PersonInfo:
    id: int
    name: str
    n_faces: int
    models: tuple[str, ...]


@dataclass(frozen=True)
class FaceRecord:
    id: int
    person: str
    source: str
    sha256: str
    face: Face | None
    created: float
    models: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class FollowedVectors:
    """A model's vectors as a process holds them, and what it needs to bring them up to date cheaply
    (GalleryStore.follow_vectors): the vectors version they are of and each row's embedding id."""

    version: int
    embeddings: GalleryEmbeddings
    row_ids: np.ndarray
    """The embedding id of each row (a replaced vector gets a new one)."""


@dataclass(frozen=True)
class Removed:
    """What a removal took out of the gallery: the faces (ids, content hashes and sources, in face-id order) and
    their stored crops; everything derived from them (vectors, crops) went with them."""

    person: str | None
    face_ids: tuple[int, ...]
    sha256s: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def n_faces(self) -> int:
        return len(self.face_ids)


class GalleryStore(ABC):
    """A gallery's database. ``GalleryStore(target)`` opens the backend its argument names (as `pathlib.Path`
    gives a PosixPath): a file path opens SQLite, a ``postgresql://`` URL PostgreSQL (see open_store).

    >>> with GalleryStore("people.sqlite") as g:          # doctest: +SKIP
    ...     print([p.name for p in g.people()])
    """

    path: Path | str
    """Where the gallery is: the SQLite file, or the PostgreSQL URL without its password (for messages)."""
    read_only: bool = False
    CONCAT: str = "group_concat({})"
    """The dialect's aggregate joining strings with commas."""
    NEWEST_MODEL: str = "rowid"
    """The column ordering the model identity records by insertion."""
    EMBEDDING_EXTRA: tuple[str, ...] = ()
    """Columns of the embeddings table beyond the common ones (PostgreSQL keeps the image's hash there)."""

    def __new__(cls, target: str | os.PathLike[str] | None = None, *args: object, **kwargs: object) -> GalleryStore:
        if cls is GalleryStore:
            from faceprint.gallery.store import backend_for

            cls = backend_for(target)
        return super().__new__(cls)

    # -- what a backend supplies ------------------------------------------------------------------------------

    @abstractmethod
    def _q(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Run one statement (``?`` placeholders) inside the current transaction, or alone; its rows."""

    @abstractmethod
    def _insert(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one INSERT of a row with an integer ``id``; the new row's id."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside land together or not at all (also on KeyboardInterrupt). Nests (as a savepoint)."""

    @abstractmethod
    def _insert_vector(self, face_id: int, sha256: str, model: str, dim: int, data: bytes, identity: str | None, replace: bool) -> None:
        """Store a face's vector of `model`; raise AlreadyEnrolled (person unknown) when the database refuses a
        second vector of the image and model. Runs inside a transaction."""

    @abstractmethod
    def close(self) -> None: ...

    def _after_import(self) -> None:  # noqa: B027 (a hook: nothing to do by default)
        """After rows were written with their ids (store/copy.py): bring id generators past them."""

    @property
    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def change_token(self) -> object:
        """A value that changes whenever anything is committed to the gallery (by this process or another): what
        a cached identifier compares to know it is stale, at the cost of one small read."""

    def __enter__(self) -> GalleryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- people -----------------------------------------------------------------------------------------------

    def person_id(self, name: str, create: bool = False) -> int:
        """Id of a person by name; with `create`, add them when missing."""
        row = self._q("SELECT id FROM people WHERE name = ?", (name,))
        if row:
            return int(row[0][0])
        if not create:
            raise UnknownPerson(f"no person named {name!r} in {self.path}")
        check_name(name)
        with self.transaction():
            self._q("INSERT INTO people (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, time.time()))
            return int(self._q("SELECT id FROM people WHERE name = ?", (name,))[0][0])

    def people(self) -> list[PersonInfo]:
        """Everyone enrolled, by name, with face counts and the models their faces are embedded with."""
        rows = self._q(
            f"""SELECT p.id, p.name, count(DISTINCT f.id), {self.CONCAT.format('DISTINCT e.model')}
               FROM people p LEFT JOIN faces f ON f.person_id = p.id LEFT JOIN embeddings e ON e.face_id = f.id
               GROUP BY p.id, p.name ORDER BY p.name"""
        )
        return [PersonInfo(int(i), n, int(c), tuple(sorted(m.split(","))) if m else ()) for i, n, c, m in rows]

    def rename_person(self, old: str, new: str) -> None:
        """Rename a person; InvalidName for an empty name or one already enrolled (checked under the write lock)."""
        check_name(new)
        with self.transaction():
            pid = self.person_id(old)
            if self._q("SELECT 1 FROM people WHERE name = ?", (new,)):
                raise InvalidName(f"cannot rename {old!r}: {new!r} is already enrolled (remove or rename them first)")
            self._q("UPDATE people SET name = ? WHERE id = ?", (new, pid))
            from faceprint.gallery.audit import record

            record(self, "rename", [old, new])

    def remove_person(self, name: str) -> Removed:
        """Erase a person: their faces, vectors and crops, and every copy faceprint derived from them (index files,
        Milvus, stored clusters, caches, thumbnails: faceprint.gallery.erasure); returns what went from the gallery."""
        from faceprint.gallery.erasure import erase_person

        return erase_person(self, name).removed

    # -- faces ------------------------------------------------------------------------------------------------

    def faces(self, person: str | None = None, ids: Sequence[int] | None = None) -> list[FaceRecord]:
        """Enrolled faces: of one person, of the given face ids (only those rows are read), or of everyone."""
        where, params = "", []
        if person is not None:
            self.person_id(person)
            where, params = "WHERE p.name = ?", [person]
        if ids is not None:
            if not ids:
                return []
            where += (" AND " if where else "WHERE ") + f"f.id IN ({', '.join('?' * len(ids))})"
            params += [int(i) for i in ids]
        rows = self._q(
            f"""SELECT f.id, p.name, f.source, f.sha256, f.box, f.landmarks, f.det_score, f.created,
                       {self.CONCAT.format('e.model')}
                FROM faces f JOIN people p ON p.id = f.person_id LEFT JOIN embeddings e ON e.face_id = f.id
                {where} GROUP BY f.id, p.name ORDER BY p.name, f.id""",
            params,
        )
        out = []
        for fid, name, src, sha, box, lms, score, created, models in rows:
            face = None
            if box is not None:
                face = face_from_json({"box": json.loads(box), "score": score, "landmarks": json.loads(lms)})
            out.append(FaceRecord(int(fid), name, src, sha, face, float(created), tuple(sorted(models.split(","))) if models else ()))
        return out

    def remove_face(self, face_id: int) -> Removed:
        """Erase one face with its vectors, crop and derived copies (faceprint.gallery.erasure); returns what went
        (UnknownPerson if there is no such face)."""
        from faceprint.gallery.erasure import erase_face

        return erase_face(self, face_id).removed

    def enrolled_as(self, sha256: str, model: str) -> str | None:
        """Name of the person this image (by content hash) is already enrolled as with `model`, if any."""
        row = self._q(
            """SELECT p.name FROM faces f JOIN embeddings e ON e.face_id = f.id JOIN people p ON p.id = f.person_id
               WHERE f.sha256 = ? AND e.model = ? LIMIT 1""",
            (sha256, model),
        )
        return row[0][0] if row else None

    def add_face(
        self,
        person: str,
        source: str,
        sha256: str,
        face: Face | None,
        vector: np.ndarray,
        model: str,
        identity: ModelIdentity | None = None,
    ) -> int:
        """Store one face and its embedding (call inside `transaction()` to batch); returns the face id.

        `identity` is the record of the pipeline that made the vector (faceprint.models.identity.model_identity);
        the gallery keeps it so that it can tell stale vectors from current ones. The same image enrolled for the
        same person again with another model gains that model's embedding. An image already enrolled with `model`
        (as anyone, this person included) raises AlreadyEnrolled and stores nothing: the database enforces it, so it
        holds when several processes (or replicas) enrol the same photos at once.
        """
        if identity is not None and identity.name != model:
            raise ValueError(f"identity {identity.name!r} is not of model {model!r}")
        try:
            with self.transaction():  # a savepoint inside the caller's transaction: a refused face leaves no trace
                pid = self.person_id(person, create=True)
                row = self._q("SELECT id FROM faces WHERE person_id = ? AND sha256 = ?", (pid, sha256))
                if row:
                    fid = int(row[0][0])
                else:
                    # Full precision: `gallery reembed` crops the face again from these points, and must get the same crop.
                    stored = face_to_json(face) if face else None
                    box = json.dumps(stored["box"]) if stored else None
                    lms = json.dumps(stored["landmarks"]) if stored else None
                    fid = self._insert(
                        "INSERT INTO faces (person_id, source, sha256, box, landmarks, det_score, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (pid, source, sha256, box, lms, face.score if face else None, time.time()),
                    )
                self.put_vector(fid, model, vector, identity)
        except AlreadyEnrolled:
            raise AlreadyEnrolled(sha256, model, self.enrolled_as(sha256, model)) from None
        return fid

    def put_vector(
        self, face_id: int, model: str, vector: np.ndarray, identity: ModelIdentity | None, *, replace: bool = False
    ) -> None:
        """Store a face's vector of `model` made by `identity`'s pipeline (call inside `transaction()` to batch).

        `replace` overwrites the face's existing vector of `model` (gallery reembed); without it a second vector
        of the image is refused by the database (AlreadyEnrolled).
        """
        vec = np.ascontiguousarray(vector, dtype="<f4").reshape(-1)
        with self.transaction():
            if identity is not None:
                self._q("INSERT INTO models (identity, name, record) VALUES (?, ?, ?) ON CONFLICT (identity) DO NOTHING",
                        (identity.key, identity.name, identity.to_json()))
            sha = self._q("SELECT sha256 FROM faces WHERE id = ?", (face_id,))
            if not sha:
                raise UnknownPerson(f"no face with id {face_id} in {self.path}")
            self._insert_vector(face_id, sha[0][0], model, int(vec.size), vec.tobytes(), identity.key if identity is not None else None, replace)

    def model_record(self, model: str) -> ModelIdentity | None:
        """The identity record the gallery keeps for a model name (the newest, when several pipelines of it stored
        vectors); None when no vector of it was stored with one."""
        from faceprint.models.identity import ModelIdentity

        row = self._q(f"SELECT record FROM models WHERE name = ? ORDER BY {self.NEWEST_MODEL} DESC LIMIT 1", (model,))
        return ModelIdentity.from_json(row[0][0]) if row else None

    def model_records(self) -> list[tuple[str, str, str]]:
        """Every kept identity record as (identity key, model name, record JSON), oldest first."""
        return [tuple(r) for r in self._q(f"SELECT identity, name, record FROM models ORDER BY {self.NEWEST_MODEL}")]  # type: ignore[misc]

    def stale_faces(self, identity: ModelIdentity) -> list[FaceRecord]:
        """Faces whose vector of `identity.name` was made by another pipeline (or before identities were kept)."""
        ids = {
            int(r[0])
            for r in self._q(
                "SELECT face_id FROM embeddings WHERE model = ? AND (identity IS NULL OR identity != ?)",
                (identity.name, identity.key),
            )
        }
        return [f for f in self.faces() if f.id in ids]

    # -- embeddings -------------------------------------------------------------------------------------------

    def models(self) -> dict[str, int]:
        """Embedding counts per model."""
        return {m: int(n) for m, n in self._q("SELECT model, count(*) FROM embeddings GROUP BY model ORDER BY model")}

    def embeddings(self, model: str, identity: ModelIdentity | None = None) -> GalleryEmbeddings:
        """All embeddings of one model; EmptyGallery when there are none (naming the models that are there).

        With `identity` (the pipeline the caller will compare them with), vectors made by another version of the
        model's pipeline raise StaleEmbeddings instead of being silently mixed with new ones.
        """
        rows = self._q(
            """SELECT e.face_id, f.person_id, e.dim, e.vector, e.identity FROM embeddings e JOIN faces f ON f.id = e.face_id
               WHERE e.model = ? ORDER BY e.face_id""",
            (model,),
        )
        if identity is not None and rows:
            stale = sum(1 for r in rows if r[4] != identity.key)
            if stale:
                raise StaleEmbeddings(
                    f"{self.path}: {stale} of {len(rows)} faces enrolled with {model!r} were embedded by another version "
                    f"of its pipeline (weights, alignment or test-time settings changed since); "
                    f"run: faceprint gallery reembed --gallery {self.path} --model {model}"
                )
        if not rows:
            self._no_vectors(model)
        dims = {r[2] for r in rows}
        if len(dims) != 1:
            raise GalleryError(f"{self.path}: embeddings of {model!r} have mixed sizes {sorted(dims)}")
        vectors = np.frombuffer(b"".join(bytes(r[3]) for r in rows), dtype="<f4").reshape(len(rows), dims.pop()).astype(np.float32)
        names = {int(i): n for i, n in self._q("SELECT id, name FROM people")}
        return GalleryEmbeddings(
            model, vectors, np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64), names
        )

    def require_model(self, model: str) -> None:
        """EmptyGallery or ModelNotInGallery (naming the models that are there) unless `model` has vectors here; one
        small read, where `embeddings` would read them all."""
        if not self._q("SELECT 1 FROM embeddings WHERE model = ? LIMIT 1", (model,)):
            self._no_vectors(model)

    def _no_vectors(self, model: str) -> None:
        present = self.models()
        if not present:
            raise EmptyGallery(f"{self.path}: the gallery is empty; enroll people first (faceprint enroll DIR)")
        have = ", ".join(f"{m} ({n})" for m, n in present.items())
        raise ModelNotInGallery(
            f"{self.path}: no faces enrolled with model {model!r}; the gallery holds embeddings of {have}. "
            f"Use --model with one of those, or re-enroll with --model {model}"
        )

    def people_of_faces(self, model: str, face_ids: Sequence[int]) -> tuple[np.ndarray, dict[int, str]]:
        """The person id of each face id (in order; -1 for a face gone since) and those people's names: what a
        search index's answer needs, read for those rows only (never every vector)."""
        ids = [int(i) for i in face_ids]
        if not ids:
            return np.zeros(0, np.int64), {}
        rows = self._q(
            f"""SELECT f.id, p.id, p.name FROM faces f JOIN people p ON p.id = f.person_id JOIN embeddings e ON e.face_id = f.id
                WHERE e.model = ? AND f.id IN ({', '.join('?' * len(ids))})""",
            [model, *ids],
        )
        person = {int(f): int(p) for f, p, _ in rows}
        return np.array([person.get(i, -1) for i in ids], np.int64), {int(p): n for _, p, n in rows}

    def vectors_of(self, model: str, face_ids: Sequence[int]) -> np.ndarray:
        """`model`'s vectors of the given face ids, in that order (NaN rows for ids without one): the exact vectors
        of a search index's candidates, read for those rows only."""
        ids = [int(i) for i in face_ids]
        rows = self._q(f"SELECT face_id, vector FROM embeddings WHERE model = ? AND face_id IN ({', '.join('?' * len(ids))})",
                       [model, *ids]) if ids else []
        got = {int(f): np.frombuffer(bytes(v), "<f4") for f, v in rows}
        dim = len(next(iter(got.values()))) if got else 0
        out = np.full((len(ids), dim), np.nan, np.float32)
        for i, f in enumerate(ids):
            if f in got:
                out[i] = got[f]
        return out

    def photo_counts(self, model: str) -> np.ndarray:
        """How many faces of `model` each person has (one entry per person with any): the gallery's make-up, which
        the open-set threshold needs, without reading a vector."""
        rows = self._q("SELECT count(*) FROM embeddings e JOIN faces f ON f.id = e.face_id WHERE e.model = ? GROUP BY f.person_id",
                       (model,))
        return np.array(sorted(int(r[0]) for r in rows), np.int64)

    def check_identity(self, model: str, identity: ModelIdentity) -> None:
        """StaleEmbeddings when some of `model`'s vectors were made by another pipeline than `identity` (as
        `embeddings(model, identity)` checks, with one count instead of reading them)."""
        row = self._q("SELECT count(*), sum(CASE WHEN identity IS NULL OR identity != ? THEN 1 ELSE 0 END) FROM embeddings WHERE model = ?",
                      (identity.key, model))[0]
        total, stale = int(row[0]), int(row[1] or 0)
        if stale:
            raise StaleEmbeddings(
                f"{self.path}: {stale} of {total} faces enrolled with {model!r} were embedded by another version "
                f"of its pipeline (weights, alignment or test-time settings changed since); "
                f"run: faceprint gallery reembed --gallery {self.path} --model {model}"
            )

    def follow_vectors(self, model: str, held: FollowedVectors | None = None) -> FollowedVectors:
        """`model`'s vectors, brought up to date from `held` (what this process read before) reading as little as
        it can: nothing but the version when no vector changed (the names are read again: renames), else the ids of
        the rows and the vectors of the new rows only (removed rows are dropped). EmptyGallery / ModelNotInGallery
        when there are none. A process that identifies many times loads the vectors once and then follows them."""
        for _ in range(3):  # a consistent snapshot: the version must not move while the rows are read
            version = self.vectors_version(model)
            if held is not None and held.version == version and held.embeddings.model == model:
                names = {int(i): n for i, n in self._q("SELECT id, name FROM people")}
                e = held.embeddings
                return FollowedVectors(version, GalleryEmbeddings(model, e.vectors, e.face_ids, e.person_ids, names), held.row_ids)
            rows = self._q("""SELECT e.id, e.face_id, f.person_id FROM embeddings e JOIN faces f ON f.id = e.face_id
                              WHERE e.model = ? ORDER BY e.face_id""", (model,))
            if not rows:
                self._no_vectors(model)
            ids = np.array([r[0] for r in rows], np.int64)
            old: dict[int, int] = {}
            if held is not None and held.embeddings.model == model:
                old = {int(i): k for k, i in enumerate(held.row_ids)}
            new = [int(i) for i in ids if int(i) not in old]
            got: dict[int, np.ndarray] = {}
            for s in range(0, len(new), 1000):
                part = new[s : s + 1000]
                for i, _dim, v in self._q(f"SELECT id, dim, vector FROM embeddings WHERE id IN ({', '.join('?' * len(part))})", part):
                    got[int(i)] = np.frombuffer(bytes(v), "<f4")
            if len(got) != len(new) or self.vectors_version(model) != version:
                continue  # changed while read: again
            dims = {len(v) for v in got.values()} | ({held.embeddings.vectors.shape[1]} if old else set())  # type: ignore[union-attr]
            if len(dims) != 1:
                raise GalleryError(f"{self.path}: embeddings of {model!r} have mixed sizes {sorted(dims)}")
            vectors = np.empty((len(ids), dims.pop()), np.float32)
            for k, i in enumerate(ids):
                j = old.get(int(i))
                vectors[k] = held.embeddings.vectors[j] if j is not None else got[int(i)]  # type: ignore[union-attr]
            names = {int(i): n for i, n in self._q("SELECT id, name FROM people")}
            emb = GalleryEmbeddings(model, vectors, np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows], np.int64), names)
            return FollowedVectors(version, emb, ids)
        raise GalleryError(f"{self.path}: the gallery keeps changing while its vectors are read; try again")

    def iter_vectors(self, model: str, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """`model`'s (face ids, vectors) in face-id order, `batch` rows at a time (for building a search index or
        copying a gallery without holding every vector at once)."""
        last = -1
        while True:
            rows = self._q("SELECT face_id, vector FROM embeddings WHERE model = ? AND face_id > ? ORDER BY face_id LIMIT ?",
                           (model, last, batch))
            if not rows:
                return
            ids = np.array([r[0] for r in rows], np.int64)
            yield ids, np.frombuffer(b"".join(bytes(r[1]) for r in rows), "<f4").reshape(len(rows), -1).astype(np.float32)
            last = int(ids[-1])

    def state(self, model: str) -> str:
        """A fingerprint of everything enrolled with `model` (faces, people, names); changes on any edit."""
        h = hashlib.sha256(model.encode())
        for row in self._q(
            """SELECT e.id, e.face_id, p.id, p.name FROM embeddings e JOIN faces f ON f.id = e.face_id
               JOIN people p ON p.id = f.person_id WHERE e.model = ? ORDER BY e.id""",
            (model,),
        ):
            h.update(repr(tuple(int(v) if isinstance(v, int) else v for v in row)).encode())
        return h.hexdigest()[:16]

    def vectors_version(self, model: str) -> int:
        """A counter that every insert, replacement or deletion of `model`'s embeddings raises (0: never any); on
        PostgreSQL once per transaction, and an open transaction's writer reads its own (postgres.py, step 5)."""
        value = self.get_setting(f"vectors_version:{model}")
        return int(value) if value is not None else 0

    # -- settings and stored objects --------------------------------------------------------------------------

    def data_key(self, kind: str, model: str) -> str:
        """The key of what a command derived from `model`'s vectors (a calibrated threshold, a fitted classifier):
        ``<kind>:<the model's identity key>``, so what was derived from one pipeline's vectors is never used with
        another's. A name this process cannot build (another process's checkpoint) takes the gallery's record."""
        from faceprint.errors import UnknownModel
        from faceprint.models.identity import model_identity

        try:
            ident = model_identity(model).key
        except UnknownModel:
            record = self.model_record(model)
            ident = record.key if record is not None else model
        return f"{kind}:{ident}"

    def get_setting(self, key: str) -> str | None:
        row = self._q("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0][0] if row else None

    def settings(self) -> dict[str, str]:
        """Every setting (calibrations, impostor distributions, version counters, the gallery's id)."""
        return {k: v for k, v in self._q("SELECT key, value FROM settings ORDER BY key")}

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self._q("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def put_blob(self, key: str, meta: dict[str, object], data: bytes) -> None:
        """Store an object (a fitted classifier, saved clusters, a face's crop) under `key`, replacing one there;
        an enrolled face's crop is not stored while the gallery's crops are off (`set_crops`)."""
        if key.startswith("face-image:") and self.get_setting("crops") == "off":
            return
        with self.transaction():
            self._q("INSERT INTO blobs (key, meta, data) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET meta = excluded.meta, data = excluded.data",
                    (key, json.dumps(meta), data))

    def remove_blob(self, key: str) -> bool:
        """Delete a stored object (see ``put_blob``), with the face rows of a stored clustering; returns whether there
        was one."""
        with self.transaction():
            found = bool(self._q("SELECT 1 FROM blobs WHERE key = ?", (key,)))
            self._q("DELETE FROM blobs WHERE key = ?", (key,))
            self._q("DELETE FROM cluster_faces WHERE clustering = ?", (key,))
        return found

    def get_blob(self, key: str) -> tuple[dict[str, object], bytes] | None:
        row = self._q("SELECT meta, data FROM blobs WHERE key = ?", (key,))
        return (json.loads(row[0][0]), bytes(row[0][1])) if row else None

    def blob_keys(self) -> list[str]:
        """The keys of every stored object."""
        return [r[0] for r in self._q("SELECT key FROM blobs ORDER BY key")]

    # -- stored clusters' faces, one row each (faceprint.gallery.stored_clusters; SQLite step 7, PostgreSQL 4) ----

    def cluster_face_rows(self, clustering: str) -> list[tuple[int, str, bytes]]:
        """(face id, JSON record, float32 vector bytes) of every face of the clustering `clustering` (its header
        blob's key), by face id."""
        rows = self._q("SELECT face_id, record, vector FROM cluster_faces WHERE clustering = ? ORDER BY face_id", (clustering,))
        return [(int(i), str(r), bytes(v)) for i, r, v in rows]

    def write_cluster_faces(self, clustering: str, meta: dict[str, object], put: Sequence[tuple[int, str, bytes]],
                            drop: Sequence[int], replace: bool = False) -> None:
        """In one transaction: the clustering's header blob (`meta`, no bytes), the faces `put` (face id, JSON record,
        vector bytes; added or replaced) and the faces `drop` removed. Only the rows named are written; with
        `replace`, every face row of the clustering goes first (a new clustering stored over an old one)."""
        per = 400  # rows per statement: within every backend's limit on parameters
        with self.transaction():
            self.put_blob(clustering, meta, b"")
            if replace:
                self._q("DELETE FROM cluster_faces WHERE clustering = ?", (clustering,))
            for s in range(0, len(drop), per):
                ids = [int(i) for i in drop[s : s + per]]
                self._q(f"DELETE FROM cluster_faces WHERE clustering = ? AND face_id IN ({', '.join('?' * len(ids))})",
                        [clustering, *ids])
            for s in range(0, len(put), per):
                rows = put[s : s + per]
                self._q("INSERT INTO cluster_faces (clustering, face_id, record, vector) VALUES "
                        + ", ".join(["(?, ?, ?, ?)"] * len(rows))
                        + " ON CONFLICT (clustering, face_id) DO UPDATE SET record = excluded.record, vector = excluded.vector",
                        [v for i, r, vec in rows for v in (clustering, int(i), r, vec)])

    def put_face_image(self, face_id: int, data: bytes, meta: dict[str, object]) -> None:
        """Keep an enrolled face's crop (removed with the face)."""
        self.put_blob(face_image_key(face_id), meta, data)

    def face_image(self, face_id: int) -> bytes | None:
        """An enrolled face's stored crop, or None."""
        blob = self.get_blob(face_image_key(face_id))
        return blob[1] if blob is not None else None

    # -- erasure and audit (gallery/erasure.py, gallery/audit.py; tables of SQLite schema step 5) ---------------

    AUDIT_FROM: int = 1 << 30
    """The schema version from which the backend has the audit, erasures and written_files tables."""

    @property
    def has_audit(self) -> bool:
        return self.schema_version >= self.AUDIT_FROM

    def checkpoint(self) -> bool:
        """Make deleted bytes leave the database's files now where the backend can (SQLite: truncate the WAL);
        True when done."""
        return True

    def purge(self) -> list[str]:
        """After an erasure: make the deleted rows' bytes leave every file of the database now (SQLite: truncate
        the WAL; secure_delete has zeroed the freed cells already). Returns what could not be done, one sentence
        each (empty: done); the erasure records that in the audit log (docs/privacy.md)."""
        if self.checkpoint():
            return []
        return [f"{self.path}: another connection still reads an older snapshot, so the WAL (which holds page "
                "images from before the erasure) could not be emptied; it is emptied at the next checkpoint"]

    def _finish_erasures(self) -> None:
        """At open: finish the erasures an interrupted process left (a removal killed after its gallery rows)."""
        if not self.read_only and self.pending_erasures():
            from faceprint.gallery.erasure import finish_pending

            finish_pending(self)

    def erase_rows(self, erasure_id: str, plan_json: str, face_ids: Sequence[int], person_ids: Sequence[int],
                   audit: tuple[str, list[str], dict[str, object]] | None = None) -> None:
        """In one transaction: record a pending erasure, delete the faces (their vectors cascade), the people, the
        faces' crops and every fitted classifier's model (a fit may hold the faces' vectors; its parameters stay and it
        is refitted with them on use), and
        append the audit record `audit` (action, people, detail)."""
        with self.transaction():
            if audit is not None:
                from faceprint.gallery.audit import record

                record(self, *audit)
            self._q("INSERT INTO erasures (id, created, plan) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET plan = excluded.plan",
                    (erasure_id, time.time(), plan_json))
            for fid in face_ids:
                self._q("DELETE FROM faces WHERE id = ?", (int(fid),))
                self._q("DELETE FROM blobs WHERE key = ?", (face_image_key(int(fid)),))
            for pid in person_ids:
                self._q("DELETE FROM people WHERE id = ?", (int(pid),))
            # A fit may hold the faces' vectors (KNN keeps them all, an SVM its support vectors): only its parameters
            # stay, so that it is refitted with them on next use (faceprint.gallery.classifier_store).
            for key, meta in self._q("SELECT key, meta FROM blobs WHERE key LIKE 'classifier:%'") if face_ids else []:
                kept = {"params": json.loads(meta).get("params"), "state": "erased"}
                self._q("UPDATE blobs SET meta = ?, data = ? WHERE key = ?", (json.dumps(kept), b"", key))

    def pending_erasures(self) -> list[tuple[str, str]]:
        """(id, plan JSON) of erasures whose rows are gone but whose derived copies may not be yet, oldest first."""
        if not self.has_audit:
            return []
        return [(str(i), str(p)) for i, p in self._q("SELECT id, plan FROM erasures ORDER BY created, id")]

    def erasure_done(self, erasure_id: str) -> None:
        with self.transaction():
            self._q("DELETE FROM erasures WHERE id = ?", (erasure_id,))

    def face_vectors(self, face_ids: Sequence[int]) -> list[tuple[int, str, bytes]]:
        """(face id, model, float32 bytes) of every vector of these faces."""
        out: list[tuple[int, str, bytes]] = []
        ids = [int(i) for i in face_ids]
        for s in range(0, len(ids), 500):
            part = ids[s : s + 500]
            out += [(int(f), str(m), bytes(v)) for f, m, v in self._q(
                f"SELECT face_id, model, vector FROM embeddings WHERE face_id IN ({', '.join('?' * len(part))})", part)]
        return out

    def record_file(self, path: str | os.PathLike[str], kind: str, person: str | None) -> None:
        """Remember a file faceprint wrote outside the gallery that shows a face (a video thumbnail), and whom it
        shows (None: an unknown face), so that erasure and retention can delete it."""
        pid = None
        if person is not None:
            row = self._q("SELECT id FROM people WHERE name = ?", (person,))
            pid = int(row[0][0]) if row else None
        with self.transaction():
            self._q("""INSERT INTO written_files (path, kind, person_id, created) VALUES (?, ?, ?, ?)
                       ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, person_id = excluded.person_id,
                       created = excluded.created""", (str(Path(path).resolve()), kind, pid, time.time()))

    def written_files(self, person_ids: Sequence[int] | None = None, unknown_before: float | None = None) -> list[str]:
        """Paths of recorded files that show one of `person_ids`, or an unknown face recorded before `unknown_before`."""
        out: list[str] = []
        for pid in person_ids or []:
            out += [str(r[0]) for r in self._q("SELECT path FROM written_files WHERE person_id = ?", (int(pid),))]
        if unknown_before is not None:
            out += [str(r[0]) for r in self._q("SELECT path FROM written_files WHERE person_id IS NULL AND created < ?",
                                               (unknown_before,))]
        return out

    def forget_files(self, paths: Sequence[str]) -> None:
        with self.transaction():
            for p in paths:
                self._q("DELETE FROM written_files WHERE path = ?", (p,))

    def append_audit(self, actor: str, action: str, people: Sequence[str], detail: dict[str, object], result: str,
                     at: float | None = None) -> None:
        """Append one audit record (inside the caller's transaction when there is one)."""
        with self.transaction():
            self._q("INSERT INTO audit (at, actor, action, people, detail, result) VALUES (?, ?, ?, ?, ?, ?)",
                    (time.time() if at is None else at, actor, action, json.dumps(list(people)), json.dumps(detail), result))

    def audit_records(self, since: float | None = None, until: float | None = None, action: str | None = None,
                      actor: str | None = None, person: str | None = None, limit: int | None = None) -> list[tuple]:
        """Audit rows (id, at, actor, action, people JSON, detail JSON, result), oldest first, filtered."""
        where, params = ["1 = 1"], []
        for sql, value in (("at >= ?", since), ("at < ?", until), ("action = ?", action), ("actor = ?", actor)):
            if value is not None:
                where.append(sql)
                params.append(value)
        rows = self._q(f"SELECT id, at, actor, action, people, detail, result FROM audit WHERE {' AND '.join(where)} ORDER BY id",
                       params)
        if person is not None:
            rows = [r for r in rows if person in json.loads(r[4])]
        return rows[:limit] if limit is not None else rows

    def expire_audit(self, before: float) -> int:
        """Delete the audit rows older than `before` (unix time); returns how many went."""
        with self.transaction():
            self._q("""INSERT INTO settings (key, value) VALUES ('audit_expire_before', ?)
                       ON CONFLICT (key) DO UPDATE SET value = excluded.value""", (repr(float(before)),))
            n = int(self._q("SELECT count(*) FROM audit WHERE at < ?", (before,))[0][0])
            self._q("DELETE FROM audit WHERE at < ?", (before,))
            self._q("DELETE FROM settings WHERE key = 'audit_expire_before'")
        return n

    def set_crops(self, enabled: bool) -> int:
        """Keep enrolled faces' crops (the default, for the service's face images) or not: off stops storing them
        and erases the ones stored; returns how many were erased."""
        with self.transaction():
            self._q("INSERT INTO settings (key, value) VALUES ('crops', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    ("on" if enabled else "off",))
            n = 0 if enabled else int(self._q("SELECT count(*) FROM blobs WHERE key LIKE 'face-image:%'")[0][0])
            if not enabled:
                self._q("DELETE FROM blobs WHERE key LIKE 'face-image:%'")
        if n:
            self.purge()
        return n
