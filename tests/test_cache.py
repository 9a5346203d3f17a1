import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceprint.cache import (
    CACHE_FILE, SCHEMA_VERSION, EmbeddingCache, FaceCache, PhotoCache, detector_key, erase_photos, pipeline_key,
)
from faceprint.types import Face

FACE = Face((1.0, 2.0, 30.0, 40.0), 0.99, ((5, 6), (7, 8), (9, 10), (11, 12), (13, 14)))
SRC = Path(__file__).resolve().parents[1] / "src"


def test_cache_roundtrip_and_staleness(tmp_path: Path) -> None:
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x" * 10)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("m", img, detector="mtcnn") is None
        cache.put("m", img, np.arange(4, dtype=np.float32), FACE, 2, detector="mtcnn")
        hit = cache.get("m", img, detector="mtcnn")
        assert hit is not None and hit.n_faces == 2 and hit.face == FACE
        np.testing.assert_array_equal(hit.vector, np.arange(4))
        assert cache.get("other-model", img, detector="mtcnn") is None
        assert cache.get("m", img, detector="dlib-hog") is None  # another detector finds another box
        cache.put("m", tmp_path / "a.jpg", np.zeros(4), None, 0, detector="mtcnn")
        assert cache.get("m", img, detector="mtcnn").face is None  # type: ignore[union-attr]
        # A touched file (same bytes) still hits; an edited one is a miss.
        st = img.stat()
        os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert cache.get("m", img, detector="mtcnn") is not None
        img.write_bytes(b"y" * 10)
        assert cache.get("m", img, detector="mtcnn") is None
    # Survives reopening.
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put("m", img, np.ones(4), None, 0, detector="mtcnn")
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("m", img, detector="mtcnn").vector.sum() == 4  # type: ignore[union-attr]


def test_detector_settings_are_part_of_the_key(tmp_path: Path) -> None:
    from faceprint.detect import create_detector

    img = tmp_path / "a.jpg"
    img.write_bytes(b"x" * 10)
    default, larger = create_detector("mtcnn"), create_detector("mtcnn", min_face_size=40)
    assert detector_key("mtcnn") == detector_key(default) != detector_key(larger)
    assert detector_key(create_detector("mtcnn", num_threads=1)) == detector_key(default)  # threads change nothing
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put("m", img, np.ones(4), FACE, 1, detector=default)
        assert cache.get("m", img, detector="mtcnn") is not None
        assert cache.get("m", img, detector=larger) is None


def test_both_views_share_one_file_without_clashing(tmp_path: Path) -> None:
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x" * 10)
    path = tmp_path / CACHE_FILE
    faces = [(FACE, np.full(4, 2.0, np.float32), 7.5), (FACE, np.full(4, 3.0, np.float32), 1.5)]
    with EmbeddingCache(path) as one, FaceCache(path) as every:
        one.put("m", img, np.ones(4), FACE, 2, detector="mtcnn")
        every.put("m", "mtcnn", img, faces)
        assert every.get("m", "mtcnn", img) is not None  # a waiting row is found before it is written
    with EmbeddingCache(path) as one, FaceCache(path) as every:
        assert one.get("m", img, detector="mtcnn").vector.sum() == 4  # type: ignore[union-attr]
        back = every.get("m", "mtcnn", img)
        assert back is not None and [s for _, _, s in back] == [7.5, 1.5] and back[1][0] == FACE
        np.testing.assert_array_equal(back[1][1], np.full(4, 3.0))
        every.put("m", "mtcnn", tmp_path / "a.jpg", [])
        every.commit()
        assert every.get("m", "mtcnn", img) == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 2


_OLD_SCHEMAS = {  # what faceprint wrote before the one photo cache
    "embeddings.sqlite": "CREATE TABLE embeddings (model TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, "
                         "mtime_ns INTEGER NOT NULL, vector BLOB NOT NULL, face TEXT, n_faces INTEGER NOT NULL, "
                         "PRIMARY KEY (model, path))",
    "faces.sqlite": "CREATE TABLE photo_faces (key TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, "
                    "mtime_ns INTEGER NOT NULL, faces TEXT NOT NULL, vectors BLOB NOT NULL, PRIMARY KEY (key, path))",
}


def test_old_caches_are_discarded_and_another_version_rebuilt(tmp_path: Path) -> None:
    for name, schema in _OLD_SCHEMAS.items():
        db = sqlite3.connect(tmp_path / name)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(schema)
        db.commit()  # (left open: its -wal and -shm files stay beside it)
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:  # a cache of another schema version
        db.execute("CREATE TABLE photos (other TEXT)")
        db.execute("PRAGMA user_version=99")
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x")
    with EmbeddingCache(tmp_path / CACHE_FILE) as cache:
        cache.put("m", img, np.ones(4), None, 0, detector="d")
        assert cache.get("m", img, detector="d") is not None
    assert sorted(p.name for p in tmp_path.iterdir() if "sqlite" in p.name) == [CACHE_FILE]
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_another_programs_database_is_neither_emptied_nor_deleted(tmp_path: Path) -> None:
    from faceprint.errors import OutputError

    for name in ("embeddings.sqlite", "mine.sqlite"):  # an older cache's name, and a path given as the cache
        with sqlite3.connect(tmp_path / name) as db:
            db.execute("CREATE TABLE embeddings (person TEXT, vector BLOB)")
            db.execute("INSERT INTO embeddings VALUES ('ada', x'00')")
    with pytest.raises(OutputError, match="not a faceprint cache"):
        EmbeddingCache(tmp_path / "mine.sqlite")
    (tmp_path / "text.sqlite").write_text("not a database at all " * 100)
    with pytest.raises(OutputError, match="text.sqlite"):
        FaceCache(tmp_path / "text.sqlite")
    EmbeddingCache(tmp_path / CACHE_FILE).close()
    for name in ("embeddings.sqlite", "mine.sqlite"):
        with sqlite3.connect(tmp_path / name) as db:
            assert db.execute("SELECT person FROM embeddings").fetchall() == [("ada",)]


def test_erase_by_path_content_and_vector(tmp_path: Path) -> None:
    photos = []
    for i in range(4):
        photos.append(tmp_path / f"p{i}.jpg")
        photos[-1].write_bytes(bytes([i]) * 100)
    copy = tmp_path / "copy-of-p1.jpg"
    copy.write_bytes(photos[1].read_bytes())
    vec = [np.full(4, float(i), np.float32) for i in range(5)]
    with EmbeddingCache(tmp_path / CACHE_FILE) as one, FaceCache(tmp_path / CACHE_FILE) as every:
        for i, p in enumerate(photos):
            one.put("m", p, vec[i], None, 1, detector="d")
        one.put("m", copy, vec[1], None, 1, detector="d")
        every.put("m", "d", photos[3], [(FACE, vec[4], 1.0), (FACE, vec[3], 1.0)])
    assert erase_photos(tmp_path / "absent") == 0 and not (tmp_path / "absent" / CACHE_FILE).exists()
    old = tmp_path / "old"  # a folder with only an older cache: erasure deletes it and writes no new one
    old.mkdir()
    with sqlite3.connect(old / "faces.sqlite") as db:
        db.execute(_OLD_SCHEMAS["faces.sqlite"])
    assert erase_photos(old, [str(photos[0])]) == 1 and list(old.iterdir()) == []
    import hashlib

    gone = erase_photos(tmp_path, [str(photos[0].resolve())], [hashlib.sha256(photos[1].read_bytes()).hexdigest()],
                        lambda x: (x == 4.0).all(1))
    assert gone == 4  # p0 by path, p1 and its copy by content, p3's faces by a vector
    with EmbeddingCache(tmp_path / CACHE_FILE) as one:
        assert [one.get("m", p, detector="d") is not None for p in [*photos, copy]] == [False, False, True, True, False]
    wal = tmp_path / (CACHE_FILE + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


_WRITER = """
import sys
import numpy as np
import pytest
from faceprint.cache import PhotoCache
path, tag, n, batch, photo = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with PhotoCache(path, batch=batch) as cache:
    for i in range(n):  # a row of three 128-d faces per step
        cache._put(f"k{tag}-{i}", photo, [{"i": i}] * 3, np.full((3, 128), float(i), np.float32), 3)
        print(i, flush=True)
"""


def _writer(path: Path, tag: str, n: int, batch: int, photo: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag, str(n), str(batch), str(photo)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT key, json_array_length(faces), length(vectors) FROM photos").fetchall()
    assert all(n == 3 and size == 3 * 128 * 4 for _, n, size in rows)  # every row whole
    return [(k, n) for k, n, _ in rows]


def test_two_processes_fill_one_cache(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x" * 100)
    path = tmp_path / CACHE_FILE
    procs = [_writer(path, tag, 150, 1, photo) for tag in "ab"]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    keys = {k for k, _ in _rows(path)}
    assert keys == {f"k{t}-{i}" for t in "ab" for i in range(150)}


def test_a_writer_killed_mid_write_leaves_a_readable_cache(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x" * 100)
    path = tmp_path / CACHE_FILE
    proc = _writer(path, "x", 100_000, 8, photo)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while int(proc.stdout.readline() or -1) < 400 and time.monotonic() < deadline:  # well into its writes
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    rows = _rows(path)
    assert len(rows) >= 400 and len(rows) % 8 == 0  # whole batches only
    with FaceCache(path) as cache:  # opens, reads and writes again
        cache.put("m", "d", photo, [])
        cache.commit()
        assert cache.get("m", "d", photo) == []


def test_photo_cache_writes_batches(tmp_path: Path) -> None:
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x")
    with PhotoCache(tmp_path / CACHE_FILE, batch=3) as cache:
        for i in range(2):
            cache._put(f"k{i}", img, [None], np.ones((1, 4)), 0)
        with sqlite3.connect(tmp_path / CACHE_FILE) as db:
            assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 0
        cache._put("k2", img, [None], np.ones((1, 4)), 0)
        with sqlite3.connect(tmp_path / CACHE_FILE) as db:
            assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 3


def test_pipeline_key_follows_the_pipeline_of_ensemble_members() -> None:
    import dataclasses

    from faceprint.models import get_model_spec
    from faceprint.models.ensemble import ensemble_spec
    from faceprint.models.identity import model_identity

    ens = "ensemble:dlib-resnet-v1+facenet-inception-resnet-v1"
    dlib, facenet = get_model_spec("dlib-resnet-v1"), get_model_spec("facenet-inception-resnet-v1")
    assert pipeline_key(ens) == model_identity(ensemble_spec([dlib, facenet])).key  # the name means these specs
    flipped = dataclasses.replace(facenet, flip_average=not facenet.flip_average)
    assert model_identity(flipped).key != pipeline_key("facenet-inception-resnet-v1")
    changed = model_identity(ensemble_spec([dlib, flipped])).key
    assert changed != pipeline_key(ens) and changed.startswith(ens + "#")
    assert pipeline_key("dlib-resnet-v1").startswith("dlib-resnet-v1#")
