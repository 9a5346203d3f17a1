"""Response bodies, as pydantic models: they document the API at /docs and check what the routes return."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

__all__ = [
    "HealthOut", "ReadyOut", "LimitsOut", "ModelsOut", "FaceOut", "DetectOut", "EmbeddedFaceOut", "EmbedOut", "VerifyOut", "CandidateOut", "IdentifiedFaceOut",
    "IdentifyOut", "TrackOut", "VideoOut", "PersonSummary", "PageOut", "PeopleOut", "FaceRecordOut", "PersonOut", "EnrolledOut", "SkippedOut", "EnrollOut",
    "RenameOut", "RemovedOut", "GalleriesOut", "KeyOut", "KeysOut", "NewKeyOut", "ErrorBody", "ErrorOut",
]


class HealthOut(BaseModel):
    status: str
    version: str


class ReadyOut(BaseModel):
    status: str
    model: str
    detector: str
    multi: bool
    """Whether the server holds a folder of galleries (routes under /v1/galleries/{gallery})."""


class LimitsOut(BaseModel):
    """What one request may hold on this server."""

    max_files: int
    """Images in one request (--max-files)."""
    max_body: int
    """Bytes in one request body (--max-body-mb)."""
    max_pixels: int
    """Pixels in one image (--max-pixels)."""
    max_top_k: int


class ModelsOut(BaseModel):
    model: str
    detector: str
    dim: int
    metric: str
    threshold: float
    """Verification threshold (distance at or below: same person)."""
    open_set_threshold: float
    """Identification threshold used when the gallery has no calibrated one."""
    available: list[str]
    limits: LimitsOut




class FaceOut(BaseModel):
    box: list[float]
    """x1, y1, x2, y2 in pixels."""
    score: float
    landmarks: dict[str, list[float]]


class DetectOut(BaseModel):
    faces: list[FaceOut]


class EmbeddedFaceOut(FaceOut):
    embedding: list[float]
    model: str


class EmbedOut(BaseModel):
    faces: list[EmbeddedFaceOut]
    model: str


class VerifyOut(BaseModel):
    same: bool
    distance: float
    threshold: float
    model: str
    faces: list[FaceOut]


class CandidateOut(BaseModel):
    person: str
    distance: float
    confidence: float


class IdentifiedFaceOut(BaseModel):
    box: list[float]
    person: Optional[str]
    """None when UNKNOWN."""
    unknown: bool
    closest: Optional[str]
    """Whom the face resembles most (None when nobody is enrolled)."""
    distance: Optional[float]
    score: Optional[float] = None
    """What the threshold applied to when it is not the distance (nearest / second-nearest person ** lam)."""
    confidence: Optional[float]
    candidates: list[CandidateOut]


class IdentifyOut(BaseModel):
    faces: list[IdentifiedFaceOut]
    model: str
    threshold: Optional[float] = None
    """The threshold the faces were decided at (None when nobody is enrolled)."""
    threshold_applies_to: Optional[str] = None
    """What it applies to: "distance", or the distance over the second-nearest person's ** lam."""
    expected_stranger_rate: Optional[float] = None
    """The share of strangers it is expected to name at the gallery's size (None when not known)."""
    confidence_meaning: Optional[str] = None
    """What each face's `confidence` means at this operating point, and why an UNKNOWN face can carry a high one."""


class TrackOut(BaseModel):
    """One face track: the fields of a tracks.jsonl line of `faceprint video`."""

    track_id: int
    person: Optional[str]
    """null when UNKNOWN (or when another track on screen at once holds the same person: see conflict_with)."""
    unknown: bool
    confidence: Optional[float]
    first_s: float
    last_s: float
    frames: int
    best_frame: int
    closest: Optional[str]
    distance: Optional[float]
    first_frame: int
    last_frame: int
    recognitions: int
    conflict_with: Optional[int]


class VideoOut(BaseModel):
    tracks: list[TrackOut]
    frames: int
    """Frames decoded."""
    fps: float
    width: int
    height: int
    recognitions: int
    """Faces embedded and matched, over all tracks."""
    model: str


class PersonSummary(BaseModel):
    name: str
    faces: int
    models: list[str]


class PageOut(BaseModel):
    """Where a page of a list lies in it."""

    total: int
    """Items in the whole list."""
    offset: int
    limit: int
    next_offset: Optional[int]
    """The offset of the next page; None on the last one."""


class PeopleOut(PageOut):
    people: list[PersonSummary]


class FaceRecordOut(BaseModel):
    id: int
    source: str
    box: Optional[list[float]]
    score: Optional[float]
    created: float
    models: list[str]
    image: str


class PersonOut(PageOut):
    name: str
    faces: list[FaceRecordOut]


class EnrolledOut(BaseModel):
    id: int
    source: str
    box: Optional[list[float]]
    image: str


class SkippedOut(BaseModel):
    source: str
    reason: str
    """already enrolled, no face, several faces or unreadable."""
    detail: str


class EnrollOut(BaseModel):
    person: str
    enrolled: list[EnrolledOut]
    skipped: list[SkippedOut]


class RenameOut(BaseModel):
    name: str
    previous: str


class RemovedOut(BaseModel):
    removed: str | int
    faces: int


class GalleriesOut(BaseModel):
    galleries: list[str]


class KeyOut(BaseModel):
    id: str
    scope: str
    gallery: Optional[str]
    label: str
    created: float
    revoked: Optional[float]


class KeysOut(BaseModel):
    keys: list[KeyOut]


class NewKeyOut(BaseModel):
    key: str
    id: str
    scope: str
    gallery: Optional[str]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


class ClusterFaceOut(BaseModel):
    id: int
    """The face's id in the stored clusters (not an enrolled face's id)."""
    source: str
    """The photo's path, or ``upload:<sha256>`` for a face kept from an upload."""
    box: list[float]
    image: str
    """URL of the face's crop (JPEG)."""
    created: Optional[float]
    """When a face of an upload was kept (unix time); null for faces of `faceprint cluster`."""


class ClusterOut(BaseModel):
    id: int
    size: int
    faces: list[ClusterFaceOut]
    """The first faces of the cluster (`faces` query parameter); GET /clusters/{id} pages through all."""


class ClustersOut(PageOut):
    model: str
    method: Optional[str]
    threshold: Optional[float]
    alone: int
    """Faces in no cluster (seen once so far, or taken out as "not this person")."""
    clusters: list[ClusterOut]


class ClusterFacesOut(PageOut):
    id: int
    size: int
    faces: list[ClusterFaceOut]


class ClusterEditOut(BaseModel):
    cluster: Optional[int]
    """The cluster the edit made or changed (null when none is left)."""
    size: int
    """Faces in it."""
    previous: Optional[int] = None
    """The cluster a moved face left."""


class ClusterNamedOut(BaseModel):
    person: str
    enrolled: list[EnrolledOut]
    skipped: list[SkippedOut]
