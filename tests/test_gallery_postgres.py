"""What only the PostgreSQL gallery has to show: concurrent writers from several processes, the database's own
rules, keys shared through the database, and a server that goes away and comes back (a real postgresql 15:
tests/pg_server.py). The semantics both backends share are tested once, over both, in test_gallery_store.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.errors import AlreadyEnrolled, GalleryError, GalleryUnavailable
from faceprint.gallery.store import open_store
from faceprint.gallery.store.postgres import PostgresStore, display_url

SRC = Path(faceprint.__file__).resolve().parents[1]
MODEL = "dlib-resnet-v1"


def _vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=128).astype(np.float32)


def test_a_url_opens_postgres_and_hides_the_password(pg_url: str) -> None:
    with open_store(pg_url) as g:
        assert isinstance(g, PostgresStore) and g.people() == []
    assert display_url("postgresql://ann:secret@db:5432/people") == "postgresql://ann@db:5432/people"


def test_refuses_a_database_it_does_not_own(pg_server, pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(GalleryError, match="not a faceprint gallery"):
        open_store(pg_url)
    with pytest.raises(GalleryError, match="no gallery here"):
        open_store(pg_server.new_database(), create=False)
    newer = pg_server.new_database()
    open_store(newer).close()
    with psycopg.connect(newer, autocommit=True) as conn:
        conn.execute("UPDATE faceprint_schema SET version = version + 1")
    with pytest.raises(GalleryError, match="newer"):
        open_store(newer)


def test_the_database_refuses_a_second_vector_of_an_image(pg_url: str) -> None:
    """A writer that skips the store's code (plain SQL) still cannot store an image twice for one model."""
    import psycopg

    with open_store(pg_url) as g:
        g.add_face("ann", "a.jpg", "sha-1", None, _vec(1), MODEL)
        with pytest.raises(AlreadyEnrolled, match="as 'ann'"):
            g.add_face("bob", "copy.jpg", "sha-1", None, _vec(1), MODEL)
        assert [p.name for p in g.people()] == ["ann"]  # bob's half-made rows went with the refusal
    with psycopg.connect(pg_url, autocommit=True) as conn:
        pid = conn.execute("INSERT INTO people (name, created) VALUES ('cy', 0) RETURNING id").fetchone()[0]
        fid = conn.execute("INSERT INTO faces (person_id, source, sha256, created) VALUES (%s, 'c.jpg', 'sha-1', 0) RETURNING id",
                           (pid,)).fetchone()[0]
        with pytest.raises(psycopg.errors.UniqueViolation, match="embeddings_image_once_per_model"):
            conn.execute("INSERT INTO embeddings (face_id, sha256, model, dim, vector) VALUES (%s, 'sha-1', %s, 128, %s)",
                         (fid, MODEL, _vec(1).tobytes()))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # the hash must be the face's own
            conn.execute("INSERT INTO embeddings (face_id, sha256, model, dim, vector) VALUES (%s, 'sha-9', %s, 128, %s)",
                         (fid, MODEL, _vec(1).tobytes()))


ENROL_SAME = """
import sys, time
import numpy as np
from faceprint.errors import AlreadyEnrolled
from faceprint.gallery.store import open_store
url, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
g = open_store(url)
vectors = np.random.default_rng(0).normal(size=(40, 128)).astype(np.float32)
time.sleep(max(0.0, start - time.time()))
stored = 0
for i in range(40):
    try:
        g.add_face(name, f"{name}/{i}.jpg", f"sha-{i}", None, vectors[i], "dlib-resnet-v1")
        stored += 1
    except AlreadyEnrolled:
        pass
print(stored)
"""


def test_two_processes_enrolling_the_same_photos_at_once_store_each_once(pg_url: str) -> None:
    """Four processes, each under its own name, add the same 40 photos at the same moment: 40 stored in all."""
    import time

    open_store(pg_url).close()
    start = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", ENROL_SAME, pg_url, name, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
             for name in ("ann", "bob", "cy", "dee")]
    counts = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        counts.append(int(out))
    assert sum(counts) == 40
    with open_store(pg_url) as g:
        assert g.models() == {MODEL: 40} and len(g.faces()) == 40
        assert sum(p.n_faces for p in g.people()) == 40 and g.vectors_version(MODEL) == 40


def test_another_process_s_commit_moves_the_change_token(pg_url: str) -> None:
    with open_store(pg_url) as a, open_store(pg_url) as b:
        t0 = a.change_token()
        b.add_face("ann", "a.jpg", "sha-1", None, _vec(1), MODEL)
        t1 = a.change_token()
        assert t1 != t0
        b.rename_person("ann", "anne")  # no vector changed, but the names did
        assert a.change_token() != t1 and a.embeddings(MODEL).labels() == ["anne"]


def test_a_bulk_transaction_moves_the_counters_once_and_its_writer_sees_each_step(pg_url: str) -> None:
    """The change counter and the vectors version move once per transaction (one row updated once, so a bulk
    enrolment stays linear: PostgreSQL walks every version of a row the transaction updated before), while other
    sessions see nothing until the commit and the writer's own reads see every statement; a face refused inside
    the transaction (its savepoint rolled back) leaves the counters as they were."""
    with open_store(pg_url) as a, open_store(pg_url) as b:
        a.add_face("ann", "a0.jpg", "sha-0", None, _vec(0), MODEL)
        token, version = b.change_token(), b.vectors_version(MODEL)
        seen_tokens, seen_versions = {a.change_token()}, {a.vectors_version(MODEL)}

        def row_updates() -> dict[str, int]:  # this transaction's, plus the session's not yet reported: take a difference
            return dict(a._q("SELECT relname, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname IN ('changes', 'settings')"))

        with a.transaction():
            start = row_updates()
            for i in range(1, 31):
                a.add_face(f"p{i % 4}", f"a{i}.jpg", f"sha-{i}", None, _vec(i), MODEL)
                seen_tokens.add(a.change_token())
                seen_versions.add(a.vectors_version(MODEL))
                if i == 10:
                    with pytest.raises(AlreadyEnrolled):
                        a.add_face("zed", "copy.jpg", "sha-3", None, _vec(3), MODEL)
            assert len(seen_tokens) == len(seen_versions) == 31  # the writer's reads move with every face
            assert (b.change_token(), b.vectors_version(MODEL)) == (token, version)  # nothing committed yet
            last = a.change_token(), a.vectors_version(MODEL)
            with pytest.raises(RuntimeError), a.transaction():  # a savepoint, rolled back after a read inside it
                a.add_face("yan", "y.jpg", "sha-y", None, _vec(99), MODEL)
                inside = a.change_token(), a.vectors_version(MODEL)
                raise RuntimeError("undo")
            assert (a.change_token(), a.vectors_version(MODEL)) == last != inside  # the state before, restored
            a.add_face("zoe", "z.jpg", "sha-z", None, _vec(98), MODEL)  # a state the read inside never saw
            assert a.change_token() not in (inside[0], last[0]) and a.vectors_version(MODEL) not in (inside[1], last[1])
            end = row_updates()
            updates = {k: end[k] - start.get(k, 0) for k in end}
            assert updates == {"changes": 1, "settings": 1}, updates  # one row update each, for 30 faces
        after = b.change_token(), b.vectors_version(MODEL)
        assert after[0] != token and after[1] > version and after not in seen_tokens
        assert a.change_token() == after[0] and a.vectors_version(MODEL) == after[1]
        assert a.models() == {MODEL: 32} and not {"zed", "yan"} & {p.name for p in a.people()}


def test_keys_live_in_the_database(pg_url: str) -> None:
    """A key created through one KeyStore (one replica) is accepted by another at once, and refused once revoked."""
    from faceprint.service.keys import KeyStore, keys_path

    assert keys_path(pg_url, None) == pg_url
    one, two = KeyStore(pg_url), KeyStore(pg_url)
    try:
        assert not two.any()
        key, rec = one.create("write", label="replica one")
        assert two.lookup(key) == rec and two.active()
        one.revoke(rec.id)
        assert two.lookup(key) is None and two.any() and not two.active()
        assert "secret" not in str(one.path)
    finally:
        one.close()
        two.close()


@pytest.mark.slow
def test_the_server_goes_away_and_comes_back() -> None:
    """While PostgreSQL is stopped every call raises GalleryUnavailable (never a hang or another error); once it
    is back, the same store object works again by itself, and nothing committed before was lost."""
    from pg_server import start_server

    server = start_server()  # its own server: stopping the session's would disturb other tests
    try:
        url = server.new_database()
        with open_store(url, timeout=2) as g:
            g.add_face("ann", "a.jpg", "sha-1", None, _vec(1), MODEL)
            server.stop("immediate")
            with pytest.raises(GalleryUnavailable, match="cannot be reached"):
                g.people()
            with pytest.raises(GalleryUnavailable):
                g.add_face("bob", "b.jpg", "sha-2", None, _vec(2), MODEL)
            server.start()
            assert [p.name for p in g.people()] == ["ann"]
            g.add_face("bob", "b.jpg", "sha-2", None, _vec(2), MODEL)
            assert g.models() == {MODEL: 2}
    finally:
        server.close()


def test_one_database_holds_several_galleries(pg_url: str) -> None:
    """`serve --galleries postgresql://...`: each gallery its own schema, made on first write, listed by name."""
    from faceprint.gallery.store.postgres import gallery_url, list_galleries
    from faceprint.service.keys import KeyStore, keys_path

    assert list_galleries(pg_url) == []
    with pytest.raises(GalleryError, match="no gallery here"):
        open_store(gallery_url(pg_url, "team-a"), create=False)
    with open_store(gallery_url(pg_url, "team-a")) as a, open_store(gallery_url(pg_url, "Team_B")) as b:
        a.add_face("ann", "a.jpg", "sha-1", None, _vec(1), MODEL)
        b.add_face("bob", "a.jpg", "sha-1", None, _vec(1), MODEL)  # the same photo: another gallery
        assert [p.name for p in a.people()] == ["ann"] and [p.name for p in b.people()] == ["bob"]
        assert a.get_setting("gallery_uid") != b.get_setting("gallery_uid")
    keys = KeyStore(keys_path(None, pg_url))
    keys.create("read")
    keys.close()
    assert list_galleries(pg_url) == ["Team_B", "_keys", "team-a"]  # the server lists only valid gallery names


def test_a_writer_waits_for_another_then_says_locked(pg_url: str) -> None:
    """Writers take turns (one advisory lock per gallery); one that waits longer than its timeout gets
    GalleryLocked, as on SQLite, and nothing of it is stored."""
    from faceprint.errors import GalleryLocked

    with open_store(pg_url) as holder, open_store(pg_url, timeout=0.3) as waiter:
        with holder.transaction():
            holder.add_face("ann", "a.jpg", "sha-1", None, _vec(1), MODEL)
            with pytest.raises(GalleryLocked, match="longer than 0.3 s"):
                waiter.add_face("bob", "b.jpg", "sha-2", None, _vec(2), MODEL)
        waiter.add_face("bob", "b.jpg", "sha-2", None, _vec(2), MODEL)  # free again
        assert [p.name for p in waiter.people()] == ["ann", "bob"]


def test_a_faiss_index_of_a_postgres_gallery_lives_in_the_cache(pg_url: str) -> None:
    pytest.importorskip("faiss")
    from faceprint.gallery.faiss_index import index_path, load_or_build_index
    from faceprint.gallery.index import ExactIndex

    with open_store(pg_url) as g:
        with g.transaction():
            for i in range(50):
                g.add_face(f"p{i % 5}", f"{i}.jpg", f"sha-{i}", None, _vec(i), MODEL)
        path = index_path(g, MODEL)
        assert g.get_setting("gallery_uid") in path.name and "postgresql" not in str(path)
        queries = np.stack([_vec(100), _vec(101)])
        want = ExactIndex(g.embeddings(MODEL).vectors).search(queries, 5)
        for _ in range(2):  # built, then read from its file
            got = load_or_build_index(g, MODEL, metric="euclidean").search(queries, 5)
            np.testing.assert_array_equal(got[1], want[1])
        assert path.exists()
