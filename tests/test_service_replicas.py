"""Two `faceprint serve` replicas against one PostgreSQL gallery (a real postgresql 15 of this module's own, real
server processes on 127.0.0.1): any replica answers; what one enrols the other identifies at the next request;
the same photo enrolled through both at once is stored once; keys created or revoked anywhere are honoured by
both; kill -9 of a replica mid-enrolment loses no acknowledged face; PostgreSQL stopped mid-enrolment gives
503 JSON answers (never 500) and the replicas recover by themselves once it is back."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("psycopg")

import faceprint  # noqa: E402
from faceprint.models import DEFAULT_MODEL
from faceprint.client import ApiError  # noqa: E402
from faceprint.gallery.store import open_store  # noqa: E402
from pg_server import start_server  # noqa: E402
from serve_helpers import Server  # noqa: E402

pytestmark = pytest.mark.slow
SRC = Path(faceprint.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pg():  # type: ignore[no-untyped-def]
    server = start_server()  # this module stops and starts it: not the session's
    yield server
    server.close()


@pytest.fixture(scope="module")
def replicas(pg, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    url = pg.new_database()
    home = tmp_path_factory.mktemp("home")
    a = Server("--gallery", url, "--workers", "2", "--lock-wait", "2", home=home, ready=False)
    b = Server("--gallery", url, "--workers", "2", "--lock-wait", "2", home=home, ready=False)
    a.wait_ready(300)
    b.wait_ready(300)
    yield url, a, b
    a.stop()
    b.stop()


def _photos(lfw_subset: Path, person: str) -> list[Path]:
    return sorted((lfw_subset / person).glob("*.jpg"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faceprint.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(SRC)})


def test_what_one_replica_enrols_the_other_identifies(replicas, lfw_subset: Path) -> None:
    _, a, b = replicas
    blair, powell = _photos(lfw_subset, "Tony_Blair"), _photos(lfw_subset, "Colin_Powell")
    a.client().enroll("Tony_Blair", blair[1:4])  # _0001: a second, cut-off face for YuNet
    b.client().enroll("Colin_Powell", powell[:3])
    assert b.client().identify(blair[5])["faces"][0]["person"] == "Tony_Blair"  # the very next request
    assert a.client().identify(powell[5])["faces"][0]["person"] == "Colin_Powell"
    a.client().rename("Tony_Blair", "Tony Blair")
    assert b.client().identify(blair[5])["faces"][0]["person"] == "Tony Blair"
    assert {p["name"] for p in b.client().people()} == {"Tony Blair", "Colin_Powell"}


def test_the_same_photo_through_both_replicas_at_once_is_stored_once(replicas, lfw_subset: Path) -> None:
    url, a, b = replicas
    photos = _photos(lfw_subset, "Hugo_Chavez")[:6]
    answers: dict[str, dict] = {}

    def send(name: str, server: Server) -> None:
        answers[name] = server.client().enroll(name, photos)

    threads = [threading.Thread(target=send, args=("Hugo", a)), threading.Thread(target=send, args=("Chavez", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    enrolled = [e for r in answers.values() for e in r["enrolled"]]
    skipped = [s for r in answers.values() for s in r["skipped"]]
    assert len(enrolled) == 6 and len(skipped) == 6 and {s["reason"] for s in skipped} == {"already enrolled"}
    with open_store(url) as g:
        names = {f.sha256: f.person for f in g.faces() if f.person in ("Hugo", "Chavez")}
        assert len(names) == 6


def test_keys_created_or_revoked_anywhere_are_honoured_by_both(replicas) -> None:
    url, a, b = replicas
    made = _cli("keys", "create", "--gallery", url, "--scope", "admin", "--json")
    assert made.returncode == 0, made.stderr
    import json

    key = json.loads(made.stdout)
    try:
        for server in (a, b):
            with pytest.raises(ApiError) as err:
                server.client().people()
            assert err.value.status == 401
            assert server.client(key["key"]).people()
        other = a.client(key["key"]).create_key("read", label="made through a")
        assert b.client(other["key"]).people() is not None
        b.client(key["key"]).revoke_key(other["id"])
        with pytest.raises(ApiError) as err:
            a.client(other["key"]).people()
        assert err.value.status == 401
    finally:
        with open_store(url) as g:  # the other tests run without keys
            g._q("DELETE FROM api_keys")


def test_kill_9_of_a_replica_mid_enrolment_loses_nothing_acknowledged(pg, replicas, lfw_subset: Path, tmp_path_factory) -> None:
    url, a, b = replicas
    victim = Server("--gallery", url, "--workers", "2", home=tmp_path_factory.mktemp("home-victim"))
    photos = [(d.name, p) for d in sorted(lfw_subset.iterdir()) if d.is_dir() for p in sorted(d.glob("*.jpg"))[:4]]
    acked: list[int] = []
    lock = threading.Lock()

    def stream(items: list[tuple[str, Path]]) -> None:
        c = victim.client()
        for person, photo in items:
            try:
                rep = c.enroll(f"k9-{person}", photo)
            except (ApiError, OSError):
                return
            with lock:
                acked.extend(e["id"] for e in rep["enrolled"])

    threads = [threading.Thread(target=stream, args=(photos[i::2],)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        end = time.monotonic() + 120
        while len(acked) < 6 and time.monotonic() < end:
            time.sleep(0.05)
        victim.kill()
        for t in threads:
            t.join(60)
    finally:
        victim.stop()
    assert len(acked) >= 6
    with open_store(url) as g:
        stored = {f.id for f in g.faces()}
        assert set(acked) <= stored
        assert g.models()[DEFAULT_MODEL] == len(stored)  # no face without its vector
    assert any(p["name"].startswith("k9-") for p in b.client().people())  # the survivor serves them


def test_postgres_stopped_mid_enrolment_answers_503_and_recovers(pg, replicas, lfw_subset: Path) -> None:
    url, a, b = replicas
    photos = _photos(lfw_subset, "George_W_Bush")[:8]
    acked: list[int] = []
    statuses: list[int] = []
    stop = threading.Event()

    def stream() -> None:
        c = a.client()
        i = 0
        while not stop.is_set():
            try:
                rep = c.enroll(f"pg-{i % 8}", photos[i % 8])
                acked.extend(e["id"] for e in rep["enrolled"])
            except ApiError as exc:
                statuses.append(exc.status)
                assert exc.code in ("gallery_unavailable", "timeout", "busy"), (exc.code, exc.message)
                time.sleep(0.2)
            i += 1

    t = threading.Thread(target=stream)
    t.start()
    try:
        time.sleep(2)
        pg.stop("fast")
        time.sleep(1)
        with pytest.raises(ApiError) as err:
            b.client().people()
        assert err.value.status == 503 and err.value.code == "gallery_unavailable"
        time.sleep(2)
        pg.start()
        end = time.monotonic() + 60
        while time.monotonic() < end:  # recovers by itself: no restart of the replicas
            try:
                b.client().people()
                break
            except ApiError:
                time.sleep(0.5)
        time.sleep(2)
    finally:
        stop.set()
        t.join(120)
    assert statuses and set(statuses) <= {503}, statuses
    assert b.client().people()
    with open_store(url) as g:
        assert set(acked) <= {f.id for f in g.faces()}


def test_serve_galleries_from_one_database(pg, lfw_subset: Path, tmp_path_factory) -> None:
    """`serve --galleries postgresql://...`: one schema per gallery, created by the first enrolment into it."""
    url = pg.new_database()
    server = Server("--galleries", url, home=tmp_path_factory.mktemp("home-multi"))
    try:
        blair = _photos(lfw_subset, "Tony_Blair")
        with pytest.raises(ApiError) as err:
            server.client(gallery="office").people()
        assert err.value.code == "unknown_gallery"
        server.client(gallery="office").enroll("Tony_Blair", blair[1:3])  # _0001: a second, cut-off face for YuNet
        assert server.client().galleries() == ["office"]
        assert server.client(gallery="office").identify(blair[4])["faces"][0]["person"] == "Tony_Blair"
    finally:
        server.stop()
