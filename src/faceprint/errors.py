"""Typed errors: the library raises these, the CLI maps them to exit codes."""

from __future__ import annotations

import os

__all__ = [
    "FaceprintError",
    "ImageError",
    "NoFaceFound",
    "UnknownModel",
    "ModelMismatch",
    "WeightsError",
    "NotFittedError",
    "MissingExtra",
    "PairsFormatError",
    "GalleryError",
    "GalleryLocked",
    "EmptyGallery",
    "UnknownPerson",
    "ModelNotInGallery",
    "StaleEmbeddings",
    "NoImagesFound",
    "VideoError",
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


class NotFittedError(FaceprintError):
    """A fitted object (classifier, threshold) was used before fit()."""


class MissingExtra(FaceprintError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        self.package, self.extra = package, extra
        super().__init__(f"this feature needs {package!r}: pip install 'faceprint[{extra}]'")


class PairsFormatError(FaceprintError):
    """A pairs file does not follow the LFW pairs format."""


class GalleryError(FaceprintError):
    """The gallery database cannot be used: corrupt, locked, from a newer faceprint, or missing what was asked."""

    exit_code = 6


class GalleryLocked(GalleryError):
    """Another process holds a write lock on the gallery for longer than the wait allows."""

    exit_code = 7


class EmptyGallery(GalleryError):
    """The gallery holds no embeddings for the requested model."""

    exit_code = 8


class UnknownPerson(GalleryError):
    """A person or face named on the command line is not in the gallery."""

    exit_code = 9


class ModelNotInGallery(EmptyGallery):
    """The gallery has faces, but none embedded with the requested model."""

    exit_code = 12


class StaleEmbeddings(ModelNotInGallery):
    """The gallery's vectors of a model were made by another version of its pipeline (other weights, alignment or
    test-time settings), so they cannot be compared with new ones; `faceprint gallery reembed` brings them up to date."""


class NoImagesFound(FaceprintError):
    """A folder given as input holds no images."""

    exit_code = 11


class VideoError(FaceprintError):
    """A video or camera cannot be opened or decoded: the message names the source and the frame reached."""

    def __init__(self, source: str, reason: str, frame: int | None = None) -> None:
        self.source, self.reason, self.frame = source, reason, frame
        where = f" at frame {frame}" if frame is not None else ""
        super().__init__(f"{source}: {reason}{where}")
