"""The gallery store on both backends (SQLite and a real PostgreSQL: tests/pg_server.py): schema, transactions,
edits; and the SQLite file refusing files it cannot trust."""

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from faceprint.errors import EmptyGallery, GalleryError, GalleryLocked, InvalidName, ModelNotInGallery, UnknownPerson
from faceprint.gallery import Gallery
from faceprint.gallery.store import SCHEMA_VERSION


def _vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=128).astype(np.float32)


@pytest.fixture()
def gallery(gallery_target):
    with Gallery(gallery_target("g")) as g:
        with g.transaction():
            g.add_face("ann", "a1.jpg", "sha-a1", None, _vec(1), "m1")
            g.add_face("ann", "a2.jpg", "sha-a2", None, _vec(2), "m1")
            g.add_face("bob", "b1.jpg", "sha-b1", None, _vec(3), "m1")
        yield g


def test_schema_and_wal(tmp_path) -> None:
    with Gallery(tmp_path / "g.sqlite") as gallery:
        assert gallery.schema_version == SCHEMA_VERSION
        assert gallery._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_people_faces_embeddings(gallery) -> None:
    assert [(p.name, p.n_faces, p.models) for p in gallery.people()] == [("ann", 2, ("m1",)), ("bob", 1, ("m1",))]
    emb = gallery.embeddings("m1")
    assert emb.vectors.shape == (3, 128) and emb.labels() == ["ann", "ann", "bob"]
    np.testing.assert_array_equal(emb.vectors[2], _vec(3))
    assert gallery.enrolled_as("sha-b1", "m1") == "bob" and gallery.enrolled_as("sha-b1", "m2") is None


def test_same_image_other_model_reuses_face(gallery) -> None:
    with gallery.transaction():
        gallery.add_face("bob", "b1.jpg", "sha-b1", None, _vec(4)[:64], "m2")
    assert len(gallery.faces("bob")) == 1 and gallery.faces("bob")[0].models == ("m1", "m2")
    assert gallery.models() == {"m1": 3, "m2": 1}


def test_rename_remove_and_state(gallery) -> None:
    s0 = gallery.state("m1")
    gallery.rename_person("bob", "robert")
    s1 = gallery.state("m1")
    assert s1 != s0
    with pytest.raises(InvalidName, match="already enrolled"):
        gallery.rename_person("ann", "robert")
    face_id = gallery.faces("ann")[0].id
    gallery.remove_face(face_id)
    assert gallery.state("m1") != s1 and len(gallery.faces("ann")) == 1
    assert gallery.remove_person("ann").n_faces == 1
    assert [p.name for p in gallery.people()] == ["robert"]
    assert gallery.embeddings("m1").vectors.shape == (1, 128)  # cascaded
    with pytest.raises(UnknownPerson):
        gallery.remove_person("ann")
    with pytest.raises(UnknownPerson):
        gallery.remove_face(face_id)


def test_empty_and_other_model(gallery_target, gallery) -> None:
    with Gallery(gallery_target("empty")) as g, pytest.raises(EmptyGallery, match="empty"):
        g.embeddings("m1")
    with pytest.raises(ModelNotInGallery, match=r"m1 \(3\)"):
        gallery.embeddings("m2")


def test_transaction_rolls_back_on_interrupt(gallery) -> None:
    with pytest.raises(KeyboardInterrupt):
        with gallery.transaction():
            gallery.add_face("carl", "c.jpg", "sha-c", None, _vec(5), "m1")
            raise KeyboardInterrupt
    assert "carl" not in [p.name for p in gallery.people()]
    assert gallery.embeddings("m1").vectors.shape == (3, 128)


def test_corrupt_foreign_and_newer_files(tmp_path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(GalleryError, match="corrupt or not a database"):
        Gallery(junk)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(GalleryError, match="not a faceprint gallery"):
        Gallery(foreign)
    newer = tmp_path / "newer.sqlite"
    Gallery(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(GalleryError, match="newer"):
        Gallery(newer)
    with pytest.raises(GalleryError, match="no gallery here"):
        Gallery(tmp_path / "missing.sqlite", create=False)


def test_locked_by_another_process(tmp_path) -> None:
    path = tmp_path / "g.sqlite"
    Gallery(path).close()
    # Another process takes the write lock and holds it while we try to write.
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sqlite3,time,sys; db=sqlite3.connect({str(path)!r}, isolation_level=None); "
         "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(GalleryLocked, match="locked"):
            g = Gallery(path, timeout=0.2)
            with g.transaction():
                g.add_face("x", "x.jpg", "sha-x", None, _vec(6), "m1")
    finally:
        holder.kill()
        holder.wait()
    with Gallery(path) as g:  # nothing half-written once the lock is gone
        assert g.people() == []


def test_split_per_person() -> None:
    from pathlib import Path

    from faceprint.gallery import split_per_person

    items = [("a", Path(f"a{i}")) for i in range(10)] + [("b", Path(f"b{i}")) for i in range(5)]
    train, test = split_per_person(items, 0.6)
    assert sum(p == "a" for p, _ in train) == 6 and sum(p == "b" for p, _ in train) == 3
    assert not set(train) & set(test) and len(train) + len(test) == 15


def test_vectors_version_counts_every_change_of_a_models_embeddings(gallery, gallery_target) -> None:
    """The counter a derived index (Milvus) checks: inserts, in-place replacements, removals and cascades. SQLite
    counts the rows; PostgreSQL raises it once per transaction (by the rows of its first change: schema step 5)."""
    exact = gallery_target.backend == "sqlite"

    def raised(before: int, model: str, rows: int) -> int:
        now = gallery.vectors_version(model)
        assert now == before + rows if exact else now > before, (model, before, now)
        return now

    v = gallery.vectors_version("m1")
    assert v == (3 if exact else 1) and gallery.vectors_version("m2") == 0
    a1 = next(f.id for f in gallery.faces("ann") if f.sha256 == "sha-a1")
    with gallery.transaction():
        gallery.put_vector(a1, "m1", _vec(9), None, replace=True)  # its vector replaced in place (gallery reembed)
    gallery.add_face("ann", "a1.jpg", "sha-a1", None, _vec(9), "m2")  # another model's embedding of it
    v, w = raised(v, "m1", 1), raised(0, "m2", 1)
    gallery.rename_person("bob", "rob")  # no vector changed
    assert gallery.vectors_version("m1") == v
    gallery.remove_person("ann")  # cascades to 2 faces and 3 embeddings
    v, w = raised(v, "m1", 2), raised(w, "m2", 1)
    gallery.remove_face(gallery.faces("rob")[0].id)
    raised(v, "m1", 1)
    uid = gallery.get_setting("gallery_uid")
    assert uid and len(uid) == 16
    with Gallery(gallery_target("other")) as other:
        assert other.get_setting("gallery_uid") not in (None, uid)


def test_a_schema_1_gallery_gains_the_counter_and_an_id(tmp_path) -> None:
    from faceprint.gallery.store import APPLICATION_ID, MIGRATIONS

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + f"\nPRAGMA application_id = {APPLICATION_ID};\nPRAGMA user_version = 1;")
    with Gallery(path) as g:
        assert g.schema_version == SCHEMA_VERSION and g.get_setting("gallery_uid")
        assert g.vectors_version("m1") == 0
        g.add_face("ann", "a1.jpg", "sha-a1", None, _vec(1), "m1")
        assert g.vectors_version("m1") == 1


def test_a_faces_stored_image_goes_with_it(gallery) -> None:
    """Face ids can be reused by SQLite: a removed face's crop must not be served for a later face."""
    from faceprint.gallery.store import face_image_key

    ann = [f.id for f in gallery.faces("ann")]
    bob = gallery.faces("bob")[0].id
    for fid in ann + [bob]:
        gallery.put_blob(face_image_key(fid), {"content_type": "image/jpeg"}, b"\xff\xd8crop")
    gallery.remove_face(bob)
    assert gallery.get_blob(face_image_key(bob)) is None
    assert gallery.remove_person("ann").face_ids == tuple(ann)
    assert all(gallery.get_blob(face_image_key(fid)) is None for fid in ann)
    assert gallery.remove_blob("nothing-here") is False


def test_following_the_vectors_equals_reading_them_again(gallery) -> None:
    """A process that holds a model's vectors brings them up to date after inserts, replacements, removals and
    renames, and ends where a fresh read ends (what a long-running identifier or a replica relies on)."""

    def same(held) -> None:  # type: ignore[no-untyped-def]
        fresh = gallery.embeddings("m1")
        e = held.embeddings
        assert e.vectors.tobytes() == fresh.vectors.tobytes() and (e.face_ids == fresh.face_ids).all()
        assert (e.person_ids == fresh.person_ids).all() and e.labels() == fresh.labels()

    held = gallery.follow_vectors("m1")
    same(held)
    assert gallery.follow_vectors("m1", held).embeddings.vectors is held.embeddings.vectors  # nothing changed: nothing read
    gallery.add_face("cy", "c.jpg", "sha-c", None, _vec(7), "m1")
    held = gallery.follow_vectors("m1", held)
    same(held)
    a1 = next(f.id for f in gallery.faces("ann") if f.sha256 == "sha-a1")
    with gallery.transaction():
        gallery.put_vector(a1, "m1", _vec(8), None, replace=True)
    held = gallery.follow_vectors("m1", held)
    same(held)
    gallery.remove_person("bob")
    gallery.rename_person("ann", "anne")
    held = gallery.follow_vectors("m1", held)
    same(held)
    assert held.version == gallery.vectors_version("m1")
