"""The demo on a clone without ../shared: face_recognition's test photos fetched from PyPI (faceprint.sample_photos),
checked file by file, and examples/demo.py run on them. No test downloads anything: pip runs offline here."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import faceprint
from faceprint.errors import SampleDataError
from faceprint.sample_photos import FACE_RECOGNITION_PHOTOS, SamplePhotoSet, extract_sample_photos, fetch_sample_photos

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(faceprint.__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo.py"

FILES = {"a.jpg": b"first photo bytes", "b.png": b"second photo bytes", "LICENSE": b"MIT License\n\nCopyright (c) 2017\n"}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an empty cache of its own (the session's private one is shared by every test)."""
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path / "home"))


def _sdist(tmp: Path, files: dict[str, bytes]) -> Path:
    """A source archive laid out like face_recognition's: the licence at the top, the photos in tests/test_images/."""
    root = tmp / "pkg-1.0"
    for name, data in files.items():
        dest = root / name if name == "LICENSE" else root / "tests" / "test_images" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    archive = tmp / "pkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname=root.name)
    return archive


def _spec(files: dict[str, bytes]) -> SamplePhotoSet:
    return SamplePhotoSet(
        requirement="pkg==1.0",
        folder="tests/test_images",
        files=tuple((n, hashlib.sha256(d).hexdigest()) for n, d in files.items()),
        license_file="LICENSE",
        license="MIT, Copyright (c) 2017 Someone",
    )


def test_extract_checks_each_file_and_a_second_fetch_downloads_nothing(tmp_path: Path) -> None:
    spec = _spec(FILES)
    folder = extract_sample_photos(_sdist(tmp_path, FILES), spec)
    assert folder == spec.cache_path() and folder.is_relative_to(Path(os.environ["FACEPRINT_HOME"]))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == FILES
    # present and verified: no pip run (an index that cannot answer would make pip fail)
    got = fetch_sample_photos(spec, pip_args=["--no-index", "--find-links", str(tmp_path / "nowhere")])
    assert got.already_present and got.path("a.jpg").read_bytes() == FILES["a.jpg"]
    assert got.license_text().startswith("MIT License")
    with pytest.raises(SampleDataError, match="no 'c.jpg'"):
        got.path("c.jpg")


def test_a_file_that_fails_its_checksum_is_not_kept(tmp_path: Path) -> None:
    spec = _spec(FILES)
    tampered = {**FILES, "b.png": b"other bytes"}
    with pytest.raises(SampleDataError, match="tests/test_images/b.png.*does not match"):
        extract_sample_photos(_sdist(tmp_path, tampered), spec)
    assert not (spec.cache_path() / "b.png").exists()


def test_an_archive_without_the_file_is_a_sample_data_error(tmp_path: Path) -> None:
    spec = _spec(FILES)
    with pytest.raises(SampleDataError, match="holds no tests/test_images/b.png"):
        extract_sample_photos(_sdist(tmp_path, {k: v for k, v in FILES.items() if k != "b.png"}), spec)


def test_offline_fetch_is_a_sample_data_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SampleDataError, match="pip download face_recognition==1.3.0 failed"):
        fetch_sample_photos(pip_args=["--no-index", "--find-links", str(tmp_path / "empty")])
    assert not FACE_RECOGNITION_PHOTOS.cache_path().exists() or not any(FACE_RECOGNITION_PHOTOS.cache_path().iterdir())


def _demo(tmp_path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """examples/demo.py with no sample data folder, the given cache, and pip kept off the network."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "FACEPRINT_HOME": str(home), "PIP_NO_INDEX": "1",
           "PIP_FIND_LINKS": str(tmp_path), "COLUMNS": "200"}
    env.pop("FACEPRINT_SHARED", None)
    return subprocess.run([sys.executable, str(DEMO), "--shared", str(tmp_path / "none"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300)


def test_demo_without_shared_or_pypi_says_what_to_do(tmp_path: Path) -> None:
    r = _demo(tmp_path, tmp_path / "empty-home")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "pip download face_recognition==1.3.0" in r.stderr
    assert "data/lfw-subset/<Name>/<Name>_NNNN.jpg" in r.stderr and "make demo SHARED=" in r.stderr


@pytest.mark.slow
def test_demo_without_shared_runs_on_the_sample_photos(tmp_path: Path, sample_photos_home: Path) -> None:
    """The bare-clone demo: pairs verified, Obama enrolled from one photo and named, Biden UNKNOWN, a contact sheet."""
    r = _demo(tmp_path, sample_photos_home)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "face_recognition==1.3.0" in out and "already in the cache" in out and "MIT License" in out
    assert "8/8 pairs correct" in out
    assert "enrolled 1 faces of 1 person" in out
    verdicts = {line.split()[0]: line for line in out.splitlines() if "(truth: " in line}
    assert set(verdicts) == {"obama2.jpg", "obama3.jpg", "32bit.png", "obama_partial_face2.jpg", "biden.jpg"}
    assert all(verdicts[n].split()[1] == "Barack_Obama" for n in verdicts if n != "biden.jpg")
    assert "UNKNOWN" in verdicts["biden.jpg"]
    assert "5/5 faces right" in out
    assert (tmp_path / "out" / "identified_sheet.jpg").stat().st_size > 10_000
