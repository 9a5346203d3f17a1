"""Face tracks between detections: a constant-velocity motion model per track, matched to each detection frame's
faces by centre distance measured in face sizes (Hungarian assignment from SciPy).

Why not IoU (ByteTrack, SORT): faces are small and detection runs on one frame in a few, so a face walking past
moves further than its own width between two detections and no longer overlaps where it was. Measured in face
sizes, and after moving the track's box along its velocity to the detection's frame, the same face is a short
distance away whatever its size and speed; a face that has not been seen for a while gets a wider gate, growing
with the frames it missed. Appearance is left to the recogniser (`faceprint.video.recognizer`), which embeds a
track's faces anyway: it re-checks a track whose face may have changed and splits it when the person changed.

A face seen once is a *tentative* track; `min_hits` detections make it confirmed (the recogniser detects again
at once while any track is tentative, so that takes one more frame, not a detection interval). A tentative track
missed for `tentative_patience` detections is dropped; a confirmed one is kept, coasting along its velocity,
until it has not been detected for `keep_lost_s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from faceprint._extras import optional_module
from faceprint.types import Face

__all__ = ["FaceTracker", "TrackedFace"]

Box = tuple[float, float, float, float]

_FAR = 1e6


@dataclass(frozen=True)
class TrackedFace:
    """A detected face, the id of the track it belongs to, and how long that track had gone unseen before it."""

    track_id: int
    face: Face
    first_frame: int = 0
    """The frame of the track's first detection (before `min_hits` detections confirmed it)."""


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    frame: int
    first_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0
    moving: bool = False
    """The velocity was measured (two detections or more)."""
    refused: np.ndarray | None = None
    """The box of a face this track refused (`FaceTracker.detach`): faces there are not its own, until it matches
    a face elsewhere."""
    before: tuple[np.ndarray, int, np.ndarray, bool] | None = None
    """(box, frame, velocity, moving) before the last match, to undo it (`FaceTracker.detach`)."""

    def at(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * (frame - self.frame)


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    rows, cols = optional_module("scipy.optimize", extra="video").linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < _FAR]


def _size(box: np.ndarray) -> float:
    return math.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))


def _centre_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two boxes' centres, in their mean size."""
    size = (_size(a) + _size(b)) / 2
    return math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / size


class FaceTracker:
    """Assign track ids to each detection frame's faces; predict boxes on the frames in between.

    Args:
        fps: the source's frame rate.
        keep_lost_s: how long a confirmed track that stopped being detected can still be matched again
            (occlusions, crossings, a missed detection).
        min_hits: detections that confirm a track (a single false detection never becomes one).
        gate: how far (in face sizes, centre to centre) a detection may be from a track's predicted box; widened
            for tracks not yet moving (no velocity) and for tracks missed for a while.
        tentative_patience: detections a tentative track may miss before it is dropped.
    """

    def __init__(
        self,
        fps: float,
        keep_lost_s: float = 1.0,
        *,
        min_hits: int = 2,
        gate: float = 1.0,
        tentative_patience: int = 2,
    ) -> None:
        if min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {min_hits}")
        self.fps = float(fps)
        self.keep_lost_frames = max(1, math.ceil(keep_lost_s * self.fps))
        self.min_hits = int(min_hits)
        self.gate = float(gate)
        self.tentative_patience = int(tentative_patience)
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1

    # -- queries -------------------------------------------------------------------------------------------------

    @property
    def tentative(self) -> bool:
        """Some face was seen but not yet often enough to be a track: detect again soon."""
        return any(t.hits < self.min_hits for t in self._tracks.values())

    def confirmed(self, track_id: int) -> bool:
        t = self._tracks.get(track_id)
        return t is not None and t.hits >= self.min_hits

    def predict(self, track_id: int, frame: int) -> Box | None:
        """Where track `track_id`'s box is on `frame`, moved along its velocity (None for an unknown track)."""
        t = self._tracks.get(track_id)
        if t is None:
            return None
        b = t.at(frame)
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def velocity(self, track_id: int) -> tuple[float, float]:
        """The track's centre velocity in pixels a frame (0, 0 until two detections measured it)."""
        t = self._tracks.get(track_id)
        if t is None or not t.moving:
            return (0.0, 0.0)
        v = t.velocity
        return (float(v[0] + v[2]) / 2, float(v[1] + v[3]) / 2)

    def relative_speed(self, track_id: int) -> float:
        """How many of its own sizes the track's face moves per frame (0 until two detections measured it)."""
        t = self._tracks.get(track_id)
        if t is None or not t.moving:
            return 0.0
        v = t.velocity
        return math.hypot((v[0] + v[2]) / 2, (v[1] + v[3]) / 2) / _size(t.box)

    # -- updates -------------------------------------------------------------------------------------------------

    def update(self, frame: int, faces: list[Face]) -> list[TrackedFace]:
        """The faces detected on `frame` that belong to confirmed tracks, each with its track id.

        Faces matched to a tentative track, or starting one, are held back until `min_hits` detections confirm it.
        """
        tracks = list(self._tracks.values())
        boxes = [np.asarray(f.box, dtype=np.float64) for f in faces]
        cost = np.full((len(tracks), len(faces)), _FAR)
        for i, t in enumerate(tracks):
            p = t.at(frame)
            gap = frame - t.frame
            gate = self.gate + (0.0 if t.moving else 0.5) + min(2.0, 0.05 * gap)
            for j, b in enumerate(boxes):
                size = (_size(p) + _size(b)) / 2
                centre = math.hypot((p[0] + p[2] - b[0] - b[2]) / 2, (p[1] + p[3] - b[1] - b[3]) / 2) / size
                scale = abs(math.log(_size(b) / _size(p)))
                if t.refused is not None and _centre_distance(t.refused, b) < 1.0:
                    continue
                if centre <= gate and scale <= math.log(1.8):
                    # confirmed tracks win ties over tentative ones, recently seen over long-lost ones
                    cost[i, j] = centre + scale + (0.0 if t.hits >= self.min_hits else 0.05) + 0.002 * gap
        matched_faces = set()
        out: list[TrackedFace] = []
        matched_tracks = set()
        for i, j in _assign(cost) if tracks and faces else []:
            t, b = tracks[i], boxes[j]
            t.before, t.refused = (t.box, t.frame, t.velocity, t.moving), None
            gap = frame - t.frame
            if gap > 0:
                v = (b - t.box) / gap
                t.velocity = v if not t.moving else 0.5 * t.velocity + 0.5 * v
                t.moving = True
            t.box, t.frame, t.hits, t.misses = b, frame, t.hits + 1, 0
            matched_faces.add(j)
            matched_tracks.add(t.track_id)
            if t.hits >= self.min_hits:
                out.append(TrackedFace(t.track_id, faces[j], t.first_frame))
        for t in tracks:
            if t.track_id in matched_tracks:
                continue
            t.misses += 1
            if t.hits < self.min_hits:
                if t.misses > self.tentative_patience:
                    del self._tracks[t.track_id]
            elif frame - t.frame > self.keep_lost_frames:
                del self._tracks[t.track_id]
        for j, f in enumerate(faces):
            if j in matched_faces:
                continue
            t = _Track(self._next_id, boxes[j], frame, frame)
            self._next_id += 1
            self._tracks[t.track_id] = t
            if self.min_hits <= 1:
                out.append(TrackedFace(t.track_id, f, frame))
        return out

    def forget(self, track_id: int) -> None:
        """Drop an ended track: should its face be detected again, that starts a new track."""
        self._tracks.pop(track_id, None)

    def detach(self, track_id: int) -> None:
        """The face last matched to `track_id` is someone else's: the match is undone (the track is as it was, and
        has missed this detection) and the face becomes a tentative track of its own, confirmed by the next
        detection like any new face."""
        t = self._tracks[track_id]
        face = _Track(self._next_id, t.box, t.frame, t.frame)
        self._next_id += 1
        self._tracks[face.track_id] = face
        if t.before is None:
            del self._tracks[track_id]
            return
        t.refused = t.box
        t.box, t.frame, t.velocity, t.moving = t.before
        t.before, t.hits, t.misses = None, t.hits - 1, t.misses + 1

    def merge(self, track_id: int, into: int) -> None:
        """Track `track_id` is the same person as the lost track `into` (linked by appearance): from now on its
        faces carry `into`'s id."""
        t = self._tracks.pop(track_id)
        self._tracks.pop(into, None)
        t.track_id = into
        self._tracks[into] = t
