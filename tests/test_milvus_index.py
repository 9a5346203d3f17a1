"""The Milvus index (milvus-lite, embedded, and a milvus-lite gRPC server on 127.0.0.1): results equal exact
search, deletions reach it, and a stale, damaged or deleted index is brought back in step with the gallery."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install faceprint[milvus])")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed (pip install faceprint[milvus])")

from faceprint.models import DEFAULT_MODEL
from faceprint.cli.app import app  # noqa: E402
from faceprint.errors import FaceprintError, GalleryError  # noqa: E402
from faceprint.gallery import ExactIndex, Gallery  # noqa: E402
from faceprint.gallery.milvus_index import (  # noqa: E402
    MilvusIndex,
    index_key,
    load_or_build_milvus,
    milvus_target,
)
from listening import listening_ports as _listening_ports  # noqa: E402
from fixtures_embeddings import copy_gallery  # noqa: E402
from test_classifiers import clustered  # noqa: E402

runner = CliRunner()
MODEL = "test-model"


def _gallery(path: Path, n_people: int = 40, per_person: int = 25) -> Gallery:
    x, names = clustered(n_people, per_person, dim=32)
    g = Gallery(path)
    with g.transaction():
        for i, (v, name) in enumerate(zip(x, names)):
            g.add_face(name, f"{name}_{i}.jpg", f"sha{i}", None, v, MODEL)
    return g


def _assert_same_as_exact(index: MilvusIndex, g: Gallery, queries: np.ndarray, k: int = 10) -> None:
    emb = g.embeddings(MODEL)
    d, i = index.search(queries, k)
    ed, ei = ExactIndex(emb.vectors, index.metric).search(queries, k)
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_allclose(d, ed, rtol=0, atol=2e-6)


def test_lite_equals_exact_and_follows_the_gallery(tmp_path) -> None:
    g = _gallery(tmp_path / "g.sqlite")
    queries = clustered(40, 2, dim=32, seed=3)[0]
    target = milvus_target(g.path, g.get_setting("gallery_uid"), MODEL)
    assert target.uri == str(tmp_path / "g.sqlite.test-model.milvus.db") and target.lite
    assert index_key(g, MODEL) == "index:test-model"  # keyed by identity (a model faceprint cannot build: its name)
    before = _listening_ports()
    with load_or_build_milvus(g, MODEL) as index:
        assert index.kind == "FLAT" and len(index) == 1000
        _assert_same_as_exact(index, g, queries)
        # The embedded server listens on 127.0.0.1 only, and is stopped on close.
        opened = {p: a for p, a in _listening_ports().items() if p not in before}
        assert set(opened.values()) <= {"127.0.0.1"}
    assert not set(opened) & set(_listening_ports())

    # A person removed from the gallery disappears from the results.
    gone = g.embeddings(MODEL).labels()[ExactIndex(g.embeddings(MODEL).vectors).search(queries[:1], 1)[1][0, 0]]
    g.remove_person(gone)
    with load_or_build_milvus(g, MODEL) as index:
        assert len(index) == 975
        emb = g.embeddings(MODEL)
        _, i = index.search(queries, 10)
        assert gone not in {emb.labels()[j] for j in i.ravel()}
        _assert_same_as_exact(index, g, queries)

    # A new face, and a face whose vector is replaced in place (same face id, new vector): both found.
    q = queries[5]
    first = g.faces()[0]
    with g.transaction():
        g.put_vector(first.id, MODEL, queries[7], None, replace=True)
    g.add_face("newcomer", "new.jpg", "sha-new", None, q, MODEL)
    with load_or_build_milvus(g, MODEL) as index:
        emb = g.embeddings(MODEL)
        d, i = index.search(np.stack([q, queries[7]]), 1)
        assert d[0, 0] < 1e-3 and emb.labels()[i[0, 0]] == "newcomer"
        assert d[1, 0] < 1e-3 and emb.face_ids[i[1, 0]] == first.id
        _assert_same_as_exact(index, g, queries)
    g.close()


def test_deleted_or_damaged_index_is_rebuilt(tmp_path, caplog) -> None:
    g = _gallery(tmp_path / "g.sqlite", 10, 10)
    queries = clustered(10, 2, dim=32, seed=4)[0]
    with load_or_build_milvus(g, MODEL) as index:
        uri = index.target.uri
        # A crash after Milvus lost rows but before anything was recorded: the row count disagrees.
        index.client.delete(index.target.collection, ids=[int(i) for i in g.embeddings(MODEL).face_ids[:5]])
    with load_or_build_milvus(g, MODEL) as index:
        assert len(index) == 100
        _assert_same_as_exact(index, g, queries)
    # A stale file put back (an old copy) is brought in step; a deleted one is rebuilt.
    shutil.copytree(uri, tmp_path / "old.db")
    g.remove_person(g.people()[0].name)
    with load_or_build_milvus(g, MODEL) as index:
        _assert_same_as_exact(index, g, queries)
    shutil.rmtree(uri)
    shutil.copytree(tmp_path / "old.db", uri)
    with load_or_build_milvus(g, MODEL) as index:
        assert len(index) == 90
        _assert_same_as_exact(index, g, queries)
    shutil.rmtree(uri)
    with load_or_build_milvus(g, MODEL) as index:
        assert len(index) == 90
        _assert_same_as_exact(index, g, queries)
    # Another metric is another index: rebuilt, cosine distances equal exact cosine search.
    with load_or_build_milvus(g, MODEL, metric="cosine") as index:
        assert index.metric == "cosine"
        _assert_same_as_exact(index, g, queries)
    g.close()


def test_hnsw_finds_the_exact_nearest_face(tmp_path) -> None:
    g = _gallery(tmp_path / "g.sqlite")
    queries = clustered(40, 5, dim=32, seed=5)[0]
    with load_or_build_milvus(g, MODEL, kind="HNSW") as index:
        assert index.kind == "HNSW"
        d, i = index.search(queries, 1)
        ed, ei = ExactIndex(g.embeddings(MODEL).vectors).search(queries, 1)
        assert np.mean(i[:, 0] == ei[:, 0]) >= 0.99
    g.close()


def test_bad_milvus_addresses(tmp_path) -> None:
    for spec in ("milvus://", "milvus://host", "milvus://host:port", "milvus://h:1/x", "milvus://h:1?index=ANNOY"):
        with pytest.raises(FaceprintError, match="Milvus"):
            milvus_target(tmp_path / "g.sqlite", "ab", MODEL, spec)
    t = milvus_target(tmp_path / "g.sqlite", "ab", "facenet@1", "milvus://127.0.0.1:19530?index=IVF_PQ")
    assert (t.uri, t.collection, t.kind, t.lite) == ("http://127.0.0.1:19530", "faceprint_ab_facenet_1", "IVF_PQ", False)
    with _gallery(tmp_path / "g.sqlite", 2, 2) as g:
        with pytest.raises(FaceprintError, match="cannot connect to Milvus"):
            load_or_build_milvus(g, MODEL, f"milvus://127.0.0.1:{_free_port()}")  # nothing listens there
        with pytest.raises(FaceprintError, match="milvus-lite does not implement IVF_PQ"):
            load_or_build_milvus(g, MODEL, kind="IVF_PQ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data: Path, port: int) -> subprocess.Popen[bytes]:
    """A milvus-lite gRPC server on 127.0.0.1:`port` keeping its data in `data`, in a child process, once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while _listening_ports().get(port) != "127.0.0.1":
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"milvus-lite server did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        time.sleep(0.2)
    return proc


def _answering(port: int, timeout: float = 60.0) -> None:
    """Wait until the server answers a call through pymilvus: a restarted server listens before it serves, and
    pymilvus's connection to it (one per server, shared by the process) recovers in its own time."""
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout
    while True:
        try:
            client = MilvusClient(uri=f"http://127.0.0.1:{port}")
            try:
                client.has_collection("any")
                return
            finally:
                client.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _stop_server(proc: subprocess.Popen[bytes], port: int) -> None:
    proc.terminate()
    proc.wait(30)
    assert port not in _listening_ports()


@pytest.fixture()
def milvus_server(tmp_path) -> Iterator[int]:
    """A milvus-lite gRPC server on 127.0.0.1 in a child process, stopped at the end."""
    port = _free_port()
    proc = _start_server(tmp_path / "server.db", port)
    try:
        yield port
    finally:
        _stop_server(proc, port)


@pytest.mark.slow
def test_server_equals_exact_and_keeps_galleries_apart(tmp_path, milvus_server) -> None:
    spec = f"milvus://127.0.0.1:{milvus_server}"
    a = _gallery(tmp_path / "a.sqlite", 10, 10)
    b = _gallery(tmp_path / "b.sqlite", 12, 5)
    queries = clustered(10, 2, dim=32, seed=6)[0]
    with load_or_build_milvus(a, MODEL, spec) as ia, load_or_build_milvus(b, MODEL, spec) as ib:
        assert ia.target.collection != ib.target.collection and (len(ia), len(ib)) == (100, 60)
        _assert_same_as_exact(ia, a, queries)
        _assert_same_as_exact(ib, b, queries)
    a.remove_person(a.people()[0].name)
    with load_or_build_milvus(a, MODEL, spec) as ia:
        assert len(ia) == 90
        _assert_same_as_exact(ia, a, queries)
    a.close()
    b.close()


@pytest.mark.slow
def test_erasure_on_a_server_leaves_no_byte_in_its_data_folder(tmp_path, milvus_server) -> None:
    """Removal from a gallery whose index lives on a server (milvus-lite's own, whose data folder this test can
    read): none of the removed person's vectors is left in any file of the server, the others' are, and searches
    answer as exact search does. A delete, flush and compact() left every byte there. A collection of a model the
    gallery no longer holds after the removal is dropped whole."""
    from faceprint.gallery.erasure import erase_person
    from test_erasure import scan

    spec = f"milvus://127.0.0.1:{milvus_server}"
    g = _gallery(tmp_path / "a.sqlite", 10, 10)
    b = _gallery(tmp_path / "b.sqlite", 4, 5)  # another gallery's collection on the same server
    emb = g.embeddings(MODEL)
    gone = emb.names[int(emb.person_ids[0])]
    mine = emb.person_ids == emb.person_ids[0]
    with g.transaction():  # the removed person's photos also hold a second model's vectors, which only they have
        for f, v in zip(g.faces(gone), emb.vectors[mine]):
            g.add_face(gone, f.source, f.sha256, None, v[::-1].copy(), "m2")
    for model in (MODEL, "m2"):
        load_or_build_milvus(g, model, spec).close()
    load_or_build_milvus(b, MODEL, spec).close()
    needles = {f"{gone} {i}": v.tobytes() for i, v in enumerate(emb.vectors[mine])}
    needles |= {f"{gone} m2 {i}": v[::-1].tobytes() for i, v in enumerate(emb.vectors[mine])}
    kept = {f"kept {i}": v.tobytes() for i, v in enumerate(emb.vectors[~mine][::7])}
    kept |= {f"b {i}": v.tobytes() for i, v in enumerate(b.embeddings(MODEL).vectors[::5])}
    data = tmp_path / "server.db"
    assert set(scan(needles | kept, data)) == set(needles | kept)  # the scan reads the server's files

    report = erase_person(g, gone, cache_folder=tmp_path / "cache")
    lines = sorted(report.milvus)
    assert len(lines) == 2 and any("rebuilt (90 faces" in x for x in lines) and any("dropped" in x for x in lines), lines
    assert scan(needles, data) == {}
    assert set(scan(kept, data)) == set(kept)
    queries = clustered(10, 2, dim=32, seed=6)[0]
    with load_or_build_milvus(g, MODEL, spec) as ia:
        assert len(ia) == 90
        _assert_same_as_exact(ia, g, queries)
    g.close()
    b.close()


@pytest.mark.slow
def test_erasure_with_the_server_down_erases_the_rest_and_finishes_at_a_later_open(tmp_path) -> None:
    """The Milvus server is down during a removal: the removal fails with a message that says so, after erasing
    everything else (rows, thumbnails); the gallery still opens (the erasure stays pending) and the first open with
    the server back finishes it: no byte of the removed vectors left in the server's data folder."""
    from faceprint.gallery.erasure import erase_person
    from test_erasure import scan

    data, port = tmp_path / "server.db", _free_port()
    proc = _start_server(data, port)
    try:
        path = tmp_path / "a.sqlite"
        g = _gallery(path, 6, 5)
        load_or_build_milvus(g, MODEL, f"milvus://127.0.0.1:{port}").close()
        emb = g.embeddings(MODEL)
        gone = emb.names[int(emb.person_ids[0])]
        needles = {f"{gone} {i}": v.tobytes() for i, v in enumerate(emb.vectors[emb.person_ids == emb.person_ids[0]])}
        thumb = tmp_path / "track_0001.jpg"
        thumb.write_bytes(b"a thumbnail of the person")
        g.record_file(thumb, "thumbnail", gone)
        assert set(scan(needles, data)) == set(needles)
        _stop_server(proc, port)

        with pytest.raises(GalleryError, match="stays pending"):
            erase_person(g, gone, cache_folder=tmp_path / "cache")
        assert not thumb.exists() and gone not in {p.name for p in g.people()} and g.pending_erasures()
        g.close()
        with Gallery(path) as again:  # opens while the server is down: readable, the erasure still pending
            assert len(again.people()) == 5 and again.pending_erasures()

        proc = _start_server(data, port)  # back, with the same data
        _answering(port)
        with Gallery(path) as back:  # this open finishes the erasure
            assert not back.pending_erasures()
        assert scan(needles, data) == {}
    finally:
        if proc.poll() is None:
            _stop_server(proc, port)


# -- `faceprint identify --index milvus` on real galleries ---------------------------------------------------------


def _identify(photos: list[str], gallery: Path, index: str) -> list[dict]:
    r = runner.invoke(app, ["identify", *photos, "--gallery", str(gallery), "--index", index, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _assert_same_answers(exact: list[dict], other: list[dict]) -> None:
    assert [o["person"] for o in other] == [o["person"] for o in exact]
    assert [o["closest"] for o in other] == [o["closest"] for o in exact]
    assert [[c["person"] for c in o["candidates"]] for o in other] == [[c["person"] for c in o["candidates"]] for o in exact]
    np.testing.assert_allclose([o["distance"] for o in other], [o["distance"] for o in exact], atol=1e-4)


@pytest.mark.slow
def test_identify_index_milvus_equals_exact_on_avengers(avengers_split, tmp_path, milvus_server) -> None:
    split = avengers_split
    gallery = copy_gallery(split["gallery"], tmp_path / "g.sqlite")
    photos = [str(p) for p in split["paths"][::3]]
    exact = _identify(photos, gallery, "exact")
    _assert_same_answers(exact, _identify(photos, gallery, "milvus"))
    _assert_same_answers(exact, _identify(photos, gallery, f"milvus://127.0.0.1:{milvus_server}"))
    assert sum(o["person"] is not None for o in exact) >= 0.9 * len(photos)
    with Gallery(gallery) as g:  # beside the gallery, named by the model's identity
        assert Path(milvus_target(g.path, g.get_setting("gallery_uid"), index_key(g, DEFAULT_MODEL)).uri).is_dir()
    r = runner.invoke(app, ["identify", photos[0], "--gallery", str(gallery), "--index", "annoy"])
    assert r.exit_code == 3 and "milvus://HOST:PORT" in r.stderr
    r = runner.invoke(app, ["identify", photos[0], "--gallery", str(gallery), "--index", "milvus://nowhere"])
    assert r.exit_code != 0 and "milvus://HOST:PORT" in r.stderr and "Traceback" not in r.output


@pytest.mark.slow
def test_identify_index_milvus_equals_exact_on_lfw_subset(lfw_subset, tmp_path) -> None:
    gallery = tmp_path / "lfw.sqlite"
    people = sorted(p.name for p in lfw_subset.iterdir())
    enrol = tmp_path / "enrol"
    photos = []
    for name in people:  # the first 6 photos of each person enrolled, the other 4 identified
        (enrol / name).mkdir(parents=True)
        for i, p in enumerate(sorted((lfw_subset / name).iterdir())):
            if i < 6:
                (enrol / name / p.name).symlink_to(p)
            else:
                photos.append(str(p))
    r = runner.invoke(app, ["enroll", str(enrol), "--gallery", str(gallery)])
    assert r.exit_code == 0, r.output
    exact = _identify(photos, gallery, "exact")
    milvus = _identify(photos, gallery, "milvus")
    _assert_same_answers(exact, milvus)
    assert sum(o["person"] == Path(o["image"]).parent.name for o in exact) >= 0.8 * len(photos)  # + background faces
    # People removed with the CLI disappear from milvus results too.
    r = runner.invoke(app, ["people", "remove", people[0], "--gallery", str(gallery)])
    assert r.exit_code == 0, r.output
    exact2, milvus2 = _identify(photos, gallery, "exact"), _identify(photos, gallery, "milvus")
    _assert_same_answers(exact2, milvus2)
    assert people[0] not in {c["person"] for o in milvus2 for c in o["candidates"]}


def _identify_lazily(g, spec: str) -> None:  # type: ignore[no-untyped-def]
    """Fill store `g` (which records its statements), build `spec`'s index once, then identify through the index in
    step: no vector read but the candidates', and the answers of exact search."""
    from faceprint.gallery.milvus_index import open_milvus_in_step
    from faceprint.recognize.identifier import GalleryEmbeddings, Identifier
    from faceprint.types import Embeddings

    x, names = clustered(40, 25, dim=32)
    with g.transaction():
        for i, (v, name) in enumerate(zip(x, names)):
            g.add_face(name, f"{name}_{i}.jpg", f"sha{i}", None, v, MODEL)
    open_milvus_in_step(g, MODEL, spec).close()  # the first command builds the index (reads every vector)
    queries = clustered(40, 1, dim=32, seed=3)[0][:3]
    exact = Identifier(g.embeddings(MODEL), "euclidean", 0.5, 10.0).identify(Embeddings(queries, MODEL), top_k=3)
    g.statements.clear()
    with open_milvus_in_step(g, MODEL, spec) as index:
        assert index.vectors is None and len(index) == 1000
        empty = GalleryEmbeddings(MODEL, np.zeros((0, 32), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), {})
        lazy = Identifier(empty, "euclidean", 0.5, 10.0, index=index, directory=g, n_people=40)
        got = lazy.identify(Embeddings(queries, MODEL), top_k=3)
    reads = [(sql, n) for sql, n in g.statements if "vector" in sql]
    assert reads and all("IN (" in sql and n - 1 <= 3 * 100 for sql, n in reads)  # only ids Milvus returned
    assert [m.person for m in got] == [m.person for m in exact] and [m.closest for m in got] == [m.closest for m in exact]
    np.testing.assert_allclose([m.distance for m in got], [m.distance for m in exact], atol=1e-5)
    assert [[c.person for c in m.candidates] for m in got] == [[c.person for c in m.candidates] for m in exact]


def _counting(base):  # type: ignore[no-untyped-def]
    class Counting(base):
        """The store, keeping every statement it runs (what the tests assert on)."""

        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.statements: list[tuple[str, int]] = []
            super().__init__(*args, **kwargs)

        def _q(self, sql, params=()):  # type: ignore[no-untyped-def]
            self.statements.append((sql, len(params)))
            return super()._q(sql, params)

    return Counting


def test_identify_through_an_index_in_step_reads_only_the_candidates_rows(tmp_path) -> None:
    """The goal of a large gallery: once Milvus is in step, identifying reads no vector but the candidates' (and
    names the same people at the same distances as exact search over every vector)."""
    from faceprint.gallery.store import SQLiteStore

    with _counting(SQLiteStore)(tmp_path / "g.sqlite") as g:
        _identify_lazily(g, "milvus")


@pytest.mark.slow
def test_a_postgres_gallery_on_a_milvus_server_reads_only_the_candidates_rows(pg_url, milvus_server) -> None:
    pytest.importorskip("psycopg")
    from faceprint.gallery.store.postgres import PostgresStore

    with _counting(PostgresStore)(pg_url) as g:
        _identify_lazily(g, f"milvus://127.0.0.1:{milvus_server}")
