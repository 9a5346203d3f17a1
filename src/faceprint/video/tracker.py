"""Face tracks between detections: ByteTrack (from Roboflow's `supervision`) over the detector's faces.

ByteTrack keeps a Kalman motion model per track and matches high- and low-confidence detections to it by box
overlap, so a track survives a few missed detections (a short occlusion, a person crossing in front) and two faces
that cross keep their identities when they move steadily. It runs only on the frames where faces are detected;
in between, `FaceTracker.predict` moves each box along its track's last velocity.

Why `supervision` 0.22-0.23 and not the `trackers` package the issue named: `trackers` (and every `supervision`
from 0.24 on) requires the GUI build `opencv-python`, which installs into the same ``cv2`` folder as the
`opencv-python-headless` faceprint depends on, so installing it replaces files of the other and removing either
breaks ``import cv2``. `supervision` 0.23 is the last release whose default OpenCV is the headless one; its
ByteTrack is the implementation `trackers` grew out of. `norfair` needs numpy < 2 and `boxmot` pulls opencv-python,
torchvision and model downloads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceprint.errors import MissingExtra
from faceprint.types import Face

__all__ = ["FaceTracker", "TrackedFace"]


@dataclass(frozen=True)
class TrackedFace:
    """A detected face and the id of the track it belongs to."""

    track_id: int
    face: Face


@dataclass
class _Motion:
    box: np.ndarray
    frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))


def _supervision() -> Any:
    try:
        import supervision
    except ImportError:
        raise MissingExtra("supervision", "video") from None
    return supervision


class FaceTracker:
    """Assign track ids to each detection frame's faces; predict boxes on the frames in between.

    Args:
        fps: the source's frame rate.
        detect_every: faces are detected on one frame in this many, the only frames `update` sees.
        keep_lost_s: how long a track that stopped being detected can still be matched again (occlusions,
            crossings); after that the person coming back starts a new track.
        min_score: detections below this confidence never start a track (they can still continue one).
    """

    def __init__(self, fps: float, detect_every: int = 1, keep_lost_s: float = 1.0, min_score: float = 0.5) -> None:
        sv = _supervision()
        self._sv = sv
        self.detect_every = max(1, int(detect_every))
        self.fps = float(fps)
        # ByteTrack counts frames it is updated on; it drops a lost track after int(frame_rate / 30 * buffer) of them.
        self.keep_lost_updates = max(1, math.ceil(keep_lost_s * self.fps / self.detect_every))
        self._bytetrack = sv.ByteTrack(
            track_activation_threshold=min_score,
            lost_track_buffer=self.keep_lost_updates,
            minimum_matching_threshold=0.8,
            frame_rate=30,
            minimum_consecutive_frames=1,
        )
        self._motion: dict[int, _Motion] = {}
        self._ids: dict[int, int] = {}  # ByteTrack's ids count across every tracker in the process; ours start at 1
        self._next_id = 1

    def update(self, frame: int, faces: list[Face]) -> list[TrackedFace]:
        """The faces detected on frame `frame`, each with its track id (faces the tracker rejects are left out)."""
        sv = self._sv
        if faces:
            det = sv.Detections(
                xyxy=np.array([f.box for f in faces], dtype=np.float32),
                confidence=np.array([f.score for f in faces], dtype=np.float32),
                class_id=np.zeros(len(faces), dtype=int),
                data={"face": np.arange(len(faces))},
            )
        else:
            det = sv.Detections.empty()
        out = self._bytetrack.update_with_detections(det)
        tracked = []
        ids = out.tracker_id if out.tracker_id is not None else []
        for tid, i in zip(ids, out.data.get("face", [])):
            tid, face = self._our_id(int(tid)), faces[int(i)]
            box = np.asarray(face.box, dtype=np.float64)
            prev = self._motion.get(tid)
            if prev is not None and frame > prev.frame:
                self._motion[tid] = _Motion(box, frame, (box - prev.box) / (frame - prev.frame))
            else:
                self._motion[tid] = _Motion(box, frame)
            tracked.append(TrackedFace(tid, face))
        return tracked

    def predict(self, track_id: int, frame: int) -> tuple[float, float, float, float] | None:
        """Where track `track_id`'s box is on `frame`, moved along its last velocity (None for an unknown track)."""
        m = self._motion.get(track_id)
        if m is None:
            return None
        box = m.box + m.velocity * (frame - m.frame)
        return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))

    def forget(self, track_id: int) -> None:
        """Drop an ended track: should ByteTrack still match its old id, that starts a new track."""
        self._motion.pop(track_id, None)
        for theirs in [k for k, v in self._ids.items() if v == track_id]:
            del self._ids[theirs]

    def _our_id(self, theirs: int) -> int:
        if theirs not in self._ids:
            self._ids[theirs] = self._next_id
            self._next_id += 1
        return self._ids[theirs]
