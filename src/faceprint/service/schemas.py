"""Response bodies, as pydantic models: they document the API at /docs and check what the routes return."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

__all__ = [
    "ModelsOut", "FaceOut", "DetectOut", "EmbeddedFaceOut", "EmbedOut", "VerifyOut", "CandidateOut", "IdentifiedFaceOut",
    "IdentifyOut", "PersonSummary", "PeopleOut", "FaceRecordOut", "PersonOut", "EnrolledOut", "SkippedOut", "EnrollOut",
    "RenameOut", "RemovedOut", "GalleriesOut", "KeyOut", "KeysOut", "NewKeyOut", "ErrorBody", "ErrorOut",
]


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
    confidence: Optional[float]
    candidates: list[CandidateOut]


class IdentifyOut(BaseModel):
    faces: list[IdentifiedFaceOut]
    model: str


class PersonSummary(BaseModel):
    name: str
    faces: int
    models: list[str]


class PeopleOut(BaseModel):
    people: list[PersonSummary]


class FaceRecordOut(BaseModel):
    id: int
    source: str
    box: Optional[list[float]]
    score: Optional[float]
    created: float
    models: list[str]
    image: str


class PersonOut(BaseModel):
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
