"""What a face track is, what the recogniser says about it, and the quality-weighted vote that names it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from faceprint.recognize.images import FaceResult
from faceprint.types import Face

__all__ = ["TrackSummary", "TrackEvent", "Verdict", "vote", "EventKind"]

EventKind = Literal["started", "named", "unknown", "conflict", "ended"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a track's vote."""

    person: str | None
    """Named when more than half of the quality-weighted votes name this person within the open-set threshold."""
    closest: str | None
    """Whom the track resembles most, also when UNKNOWN."""
    confidence: float
    """Quality-weighted mean confidence of the faces that voted for `person` (or `closest` when UNKNOWN)."""
    distance: float
    """Quality-weighted mean distance of those faces to that person."""
    share: float
    """Share of the quality weight behind the verdict's person (0 when no face was within the threshold)."""
    weight: float
    """Quality weight behind `person` (or `closest`): what decides between two tracks claiming one person."""


def vote(samples: Sequence[tuple[float, FaceResult]]) -> Verdict:
    """Combine a track's per-face matches, each weighted by its face's quality.

    A face votes for the person its match names (only names within the open-set threshold count); the track is
    that person when their votes carry more than half of the total quality weight, otherwise UNKNOWN, and then the
    person most of the weight resembles is `closest`.
    """
    if not samples:
        raise ValueError("a vote needs at least one face")
    weights = np.array([max(q, 0.0) for q, _ in samples]) + 1e-6
    total = float(weights.sum())
    named: dict[str, float] = defaultdict(float)
    near: dict[str, float] = defaultdict(float)
    for w, (_, m) in zip(weights, samples):
        near[m.closest] += w
        if m.person is not None:
            named[m.person] += w
    if named:
        person = max(named, key=named.__getitem__)
        if named[person] / total > 0.5:
            conf, dist = _weighted(samples, weights, lambda m: m.person == person)
            return Verdict(person, person, conf, dist, named[person] / total, named[person])
    closest = max(near, key=near.__getitem__)
    conf, dist = _weighted(samples, weights, lambda m: m.closest == closest)
    share = max(named.values()) / total if named else 0.0
    return Verdict(None, closest, conf, dist, share, near[closest])


def _weighted(samples: Sequence[tuple[float, FaceResult]], weights: np.ndarray, keep) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    sel = [(w, m) for w, (_, m) in zip(weights, samples) if keep(m)]
    ws = sum(w for w, _ in sel)
    return float(sum(w * m.confidence for w, m in sel) / ws), float(sum(w * m.distance for w, m in sel) / ws)


@dataclass(frozen=True)
class TrackSummary:
    """One face track as it stands: who it is, when it was seen, and how much recognition it took.

    ``person`` is None while the track is UNKNOWN or not yet recognised (``checked`` False); ``unknown`` is True
    once a vote found no enrolled person, or when another track at the same time holds the same person more
    strongly (``conflict_with`` names that track: two simultaneous tracks are never named as one person).
    """

    track_id: int
    person: str | None
    unknown: bool
    checked: bool
    closest: str | None
    confidence: float | None
    distance: float | None
    first_frame: int
    last_frame: int
    first_s: float
    last_s: float
    frames: int
    """Frames on which the track is shown (detected, or carried between detections)."""
    best_frame: int
    """The frame of the track's best-quality face (its thumbnail)."""
    best_quality: float
    recognitions: int
    """Faces of this track that were embedded and matched against the gallery."""
    conflict_with: int | None = None
    ended: bool = False

    def label(self) -> str:
        """A short form for drawing on frames."""
        if self.person is not None:
            return f"#{self.track_id} {self.person} {100 * (self.confidence or 0):.0f}%"
        if not self.checked:
            return f"#{self.track_id} ..."
        if self.conflict_with is not None:
            return f"#{self.track_id} UNKNOWN (also {self.closest}? see #{self.conflict_with})"
        return f"#{self.track_id} UNKNOWN"

    def to_dict(self) -> dict[str, object]:
        """The JSON line of tracks.jsonl."""
        return {
            "track_id": self.track_id,
            "person": self.person,
            "unknown": self.unknown,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "frames": self.frames,
            "best_frame": self.best_frame,
            "closest": self.closest,
            "distance": None if self.distance is None else round(self.distance, 4),
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "recognitions": self.recognitions,
            "conflict_with": self.conflict_with,
        }


@dataclass(frozen=True)
class TrackEvent:
    """Something happened to a track on a frame: it ``started``, was ``named``, found ``unknown``, lost a
    ``conflict`` with a simultaneous track of the same person, or ``ended`` (left the picture)."""

    kind: EventKind
    frame: int
    time_s: float
    track: TrackSummary

    def __repr__(self) -> str:
        who = self.track.person or ("UNKNOWN" if self.track.unknown else "?")
        return f"TrackEvent({self.kind!r}, frame={self.frame}, track={self.track.track_id}, {who})"


@dataclass
class Candidate:
    """A face kept for later embedding: a crop around it (not the whole frame) and the face in crop pixels."""

    quality: float
    frame: int
    crop: np.ndarray
    face: Face


@dataclass
class TrackState:
    """A track's mutable state inside the recogniser."""

    track_id: int
    first_frame: int
    first_s: float
    last_frame: int
    last_s: float
    last_detected: int
    box: tuple[float, float, float, float]
    frames: int = 0
    detections: int = 0
    pending: list[Candidate] = field(default_factory=list)
    samples: list[tuple[float, FaceResult]] = field(default_factory=list)
    best: Candidate | None = None
    verdict: Verdict | None = None
    checked_s: float = 0.0
    conflict_with: int | None = None
    ended: bool = False
    announced: bool = False
    """Its ``started`` event was sent (a confirmed track is announced after its first check, unless that check
    links it to a lost track of the same person)."""
    leaving: bool = False
    """Lost at the frame's edge while walking out: its box is still drawn (see `VideoRecognizer._leaving`)."""
    verified_s: float = 0.0
    """When a face of the track was last compared with its own faces (or when it was first voted on)."""
    embedded: int = 0
    """Faces of this track embedded and matched (votes and re-checks)."""
    vectors: list[np.ndarray] = field(default_factory=list)
    """Embeddings of its most recent checked faces: what a new face must resemble to continue the track."""
    signature: np.ndarray | None = None
    """Its face's cheap appearance signature (`faceprint.video.appearance`), to notice a change of face."""

    @property
    def person(self) -> str | None:
        if self.verdict is None or self.conflict_with is not None:
            return None
        return self.verdict.person

    def summary(self) -> TrackSummary:
        v = self.verdict
        return TrackSummary(
            track_id=self.track_id,
            person=self.person,
            unknown=v is not None and self.person is None,
            checked=v is not None,
            closest=v.closest if v else None,
            confidence=v.confidence if v else None,
            distance=v.distance if v else None,
            first_frame=self.first_frame,
            last_frame=self.last_frame,
            first_s=self.first_s,
            last_s=self.last_s,
            frames=self.frames,
            best_frame=self.best.frame if self.best else self.first_frame,
            best_quality=self.best.quality if self.best else 0.0,
            recognitions=self.embedded,
            conflict_with=self.conflict_with,
            ended=self.ended,
        )
