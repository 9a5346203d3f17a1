"""A real PostgreSQL for the tests: Debian's postgresql 15 started in a temporary folder, stopped afterwards.

The server runs as the unprivileged ``postgres`` user when the tests run as root (PostgreSQL refuses to run as
root), listens on 127.0.0.1 at a free port (and a socket in its own folder), and lives for the test session; each
test that asks gets a database of its own. `gallery_target` parametrises a test over both gallery backends, so one
suite checks the SQLite file and PostgreSQL alike.

Registered from conftest.py (``pytest_plugins``). Without the server binaries the PostgreSQL cases are skipped with
the reason (``.ci/run`` installs them with apt).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("FACEPRINT_PG_BIN", "/usr/lib/postgresql/15/bin"))
_names = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running PostgreSQL: `url(db)` addresses one of its databases; `stop()`/`start()` take it away and back
    (the fault tests), keeping its data and port."""

    folder: Path
    port: int
    as_user: list[str]

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), *args],
                              capture_output=True, text=True, check=check, timeout=60)

    def start(self) -> None:
        # fsync off: safe unless the machine itself crashes. The WAL settings are the ones docs/privacy.md asks of a
        # server whose galleries must forget (old segments unlinked at a checkpoint, never recycled or kept);
        # full_page_writes stays on, as in production, so the erasure test meets the page images it writes.
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off -c max_connections=200 "
                "-c wal_recycle=off -c wal_keep_size=0 -c archive_mode=off")
        self._ctl("start", "-w", "-l", str(self.folder / "log"), "-o", opts)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-m", mode, check=False)

    def close(self) -> None:
        """Stop the server at once and remove its folder."""
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_server() -> PgServer:
    """Initialise and start a server in a new temporary folder (the caller closes it: `PgServer.close`)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the postgres extra is not installed (pip install 'faceprint[postgres]')")
    folder = Path(tempfile.mkdtemp(prefix="faceprint-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync"], capture_output=True, text=True, check=True, timeout=120)
    tries = 3
    while True:
        server = PgServer(folder, _free_port(), as_user)
        try:
            server.start()
            return server
        except subprocess.CalledProcessError:
            # the port the kernel offered was taken before the server bound it (by another xdist worker, or another
            # test session on the machine): try another one
            tries -= 1
            if not tries or "already in use" not in _log_tail(folder):
                raise


def _log_tail(folder: Path) -> str:
    try:
        return (folder / "log").read_text(errors="replace")[-2000:]
    except OSError:
        return ""


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture()
def pg_url(pg_server: PgServer) -> str:
    """The URL of a fresh database on the session's server."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def gallery_target(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str | Path]:
    """A maker of gallery arguments on one backend: ``gallery_target("g")`` is a new SQLite file in the test's
    folder, or a new PostgreSQL database on the session's server; each name gives one gallery."""
    made: dict[str, str | Path] = {}

    def make(name: str = "g") -> str | Path:
        if name not in made:
            if request.param == "sqlite":
                made[name] = tmp_path / f"{name}.sqlite"
            else:
                made[name] = request.getfixturevalue("pg_server").new_database()
        return made[name]

    make.backend = request.param  # type: ignore[attr-defined]
    return make
