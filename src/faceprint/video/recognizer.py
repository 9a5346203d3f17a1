"""Recognise people once per track: detect every few frames, track in between, embed only each track's best faces.

>>> with faceprint.Gallery("people.sqlite") as g:                      # doctest: +SKIP
...     for event in faceprint.video.recognize("door.mp4", g):
...         if event.kind == "named":
...             print(event.time_s, event.track.person)

Per frame the work is: decode; on one frame in ``detect_every``, detect faces (on a copy scaled to
``detect_width``) and update the tracker; on the others move each track's box along its velocity. A new track
collects its faces with their quality (sharpness, size, frontality); after ``first_check`` detections (default:
its first) its best face so far is embedded and votes, so a name shows at once; each following detection adds its
face to the vote (weighted by quality) until ``vote_faces`` faces have voted. A track the vote leaves UNKNOWN is
checked again every ``recheck_every_s`` seconds with its best new faces, so someone who turns toward the camera
gets named. A named track with its ``vote_faces`` votes is not embedded again. Two tracks on screen at once are never both named as one person: the one with the
stronger vote keeps the name, the other becomes UNKNOWN with ``conflict_with`` pointing at it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from faceprint.detect import DEFAULT_DETECTOR
from faceprint.api import Gallery
from faceprint.detect import Detector, create_detector
from faceprint.errors import VideoError
from faceprint.recognize.open_set import DEFAULT_FAR
from faceprint.types import Face
from faceprint.video.quality import face_quality
from faceprint.video.source import Frame, VideoSource, open_source
from faceprint.video.tracker import FaceTracker
from faceprint.video.tracks import Candidate, TrackEvent, TrackState, TrackSummary, vote

__all__ = ["VideoRecognizer", "FrameResult", "ShownTrack", "recognize", "video_detector"]

log = logging.getLogger(__name__)

DEFAULT_MIN_FACE = 40
"""MTCNN's smallest face, in pixels of the detection copy: 20 (the photo default) costs ~5x more per frame."""


def video_detector(name: str = DEFAULT_DETECTOR, min_face: int = DEFAULT_MIN_FACE) -> Detector:
    """The detector for video frames: MTCNN with a larger smallest face than for photos (speed), or dlib-hog."""
    return create_detector(name, min_face_size=min_face) if name == "mtcnn" else create_detector(name)


@dataclass(frozen=True)
class ShownTrack:
    """A track visible on a frame, where it is and what it is called there."""

    box: tuple[float, float, float, float]
    track: TrackSummary
    detected: bool
    """Detected on this frame (False: its box was carried along its velocity since the last detection)."""


@dataclass(frozen=True, eq=False)
class FrameResult:
    """One processed frame: the frame, the tracks shown on it, and the events it caused."""

    frame: Frame
    shown: list[ShownTrack]
    events: list[TrackEvent]
    detected: bool
    """Faces were detected on this frame."""


class VideoRecognizer:
    """The per-frame state machine behind `recognize` and ``faceprint video``: feed frames in order to `process`,
    then call `finish` to end the tracks still open.

    Args:
        gallery: the people to recognise (a `faceprint.Gallery`; its model embeds the faces).
        fps: the source's frame rate (for the tracker's motion model and the lost-track window).
        detect_every: detect faces on one frame in this many (1 = every frame).
        recheck_every_s: how often an UNKNOWN track is checked again with its newest best faces.
        far: the share of strangers that may be named as someone (per face checked; sets the open-set threshold for
            the gallery's size, as `faceprint identify --far` does).
        threshold: a fixed open-set distance threshold instead.
        detector: a detector; default MTCNN with a 40-pixel smallest face (`video_detector`).
        detect_width: frames wider than this are scaled down to it for detection (boxes are scaled back).
        first_check: detections of a new track before its first vote (it collects its best faces meanwhile).
        vote_faces: faces that vote on a track before its name is settled; also the most embedded per re-check
            (the best of those collected since the last one).
        keep_lost_s: a track not detected for this long has ended; the person coming back starts a new track.
    """

    def __init__(
        self,
        gallery: Gallery,
        fps: float,
        *,
        detect_every: int = 5,
        recheck_every_s: float = 2.0,
        far: float = DEFAULT_FAR,
        threshold: float | None = None,
        detector: Detector | None = None,
        detect_width: int | None = 640,
        first_check: int = 1,
        vote_faces: int = 3,
        keep_lost_s: float = 1.0,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if recheck_every_s <= 0:
            raise ValueError(f"recheck_every_s must be > 0, got {recheck_every_s}")
        if first_check < 1 or vote_faces < 1:
            raise ValueError("first_check and vote_faces must be >= 1")
        gallery.store.require_model(gallery.model)  # EmptyGallery / ModelNotInGallery now, not after the first face
        self.gallery = gallery
        self.fps = float(fps)
        self.detect_every = int(detect_every)
        self.recheck_every_s = float(recheck_every_s)
        self.far = far
        self.threshold = threshold
        self.detector = detector if detector is not None else video_detector()
        self.detect_width = detect_width
        self.first_check = first_check
        self.vote_faces = vote_faces
        self.tracker = FaceTracker(self.fps, self.detect_every, keep_lost_s=keep_lost_s)
        self._lost_frames = self.tracker.keep_lost_updates * self.detect_every
        self._tracks: dict[int, TrackState] = {}
        self._done: list[TrackSummary] = []
        self._processed = 0
        self._last_detection_frame = -1
        self._thumbs: dict[int, Candidate | None] = {}
        self.recognitions = 0
        """Faces embedded and matched so far (the work the tracker saves is frames x faces minus this)."""
        self.frames = 0

    # -- the per-frame step ------------------------------------------------------------------------------------

    def process(self, frame: Frame) -> FrameResult:
        """Detect (on one frame in `detect_every`), track, recognise; returns what to draw and what happened."""
        events: list[TrackEvent] = []
        detected = self._processed % self.detect_every == 0
        self._processed += 1
        self.frames += 1
        shown: list[ShownTrack] = []
        if detected:
            faces = self._detect(frame.image)
            tracked = self.tracker.update(frame.index, faces)
            seen = set()
            for tf in tracked:
                seen.add(tf.track_id)
                t = self._tracks.get(tf.track_id)
                if t is None:
                    t = TrackState(tf.track_id, frame.index, frame.time_s, frame.index, frame.time_s, frame.index, tf.face.box)
                    self._tracks[tf.track_id] = t
                    events.append(TrackEvent("started", frame.index, frame.time_s, t.summary()))
                t.last_detected, t.box, t.detections = frame.index, tf.face.box, t.detections + 1
                self._collect(t, frame, tf.face)
            for t in list(self._tracks.values()):
                if t.track_id not in seen and frame.index - t.last_detected > self._lost_frames:
                    events += self._end(t, frame)
            for t in list(self._tracks.values()):
                if t.track_id in seen:
                    events += self._maybe_check(t, frame)
            visible = [t for t in self._tracks.values() if t.track_id in seen]
        else:
            visible = [t for t in self._tracks.values() if t.last_detected == self._last_detection_frame]
            for t in visible:
                t.box = self.tracker.predict(t.track_id, frame.index) or t.box
        if detected:
            self._last_detection_frame = frame.index
        for t in visible:
            t.frames += 1
            t.last_frame, t.last_s = frame.index, frame.time_s
            shown.append(ShownTrack(t.box, t.summary(), detected))
        return FrameResult(frame, shown, events, detected)

    def finish(self, frame: Frame | None = None) -> list[TrackEvent]:
        """End every open track (at the end of the video, or when it broke off); each gets its verdict first."""
        events: list[TrackEvent] = []
        for t in list(self._tracks.values()):
            events += self._end(t, frame)
        return events

    @property
    def tracks(self) -> list[TrackSummary]:
        """Every track so far, ended ones first, in order of track id within each group."""
        return list(self._done) + [t.summary() for t in sorted(self._tracks.values(), key=lambda t: t.track_id)]

    # -- internals ---------------------------------------------------------------------------------------------

    def _detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        if self.detect_width is None or w <= self.detect_width:
            return self.detector.detect(image)
        s = self.detect_width / w
        small = cv2.resize(image, (self.detect_width, max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        return [_scale_face(f, 1.0 / s) for f in self.detector.detect(small)]

    def _collect(self, t: TrackState, frame: Frame, face: Face) -> None:
        """Keep the face as a candidate for the track's next vote (the best `vote_faces`) and as its thumbnail."""
        needs_vote = t.verdict is None or t.person is None or len(t.samples) < self.vote_faces
        q = face_quality(frame.image, face).score
        if not needs_vote and t.best is not None and q <= t.best.quality:
            return
        cand = _candidate(frame, face, q)
        if t.best is None or q > t.best.quality:
            t.best = cand
        if needs_vote:
            t.pending.append(cand)
            t.pending.sort(key=lambda c: -c.quality)
            del t.pending[self.vote_faces :]

    def _maybe_check(self, t: TrackState, frame: Frame) -> list[TrackEvent]:
        if not t.pending:
            return []
        if t.verdict is None:
            due = t.detections >= self.first_check
        elif len(t.samples) < self.vote_faces:
            due = True
        else:
            due = t.person is None and frame.time_s - t.checked_s >= self.recheck_every_s
        return self._check(t, frame.index, frame.time_s) if due else []

    def _check(self, t: TrackState, frame_index: int, time_s: float) -> list[TrackEvent]:
        """Embed the pending faces, vote, and settle any clash with another open track over the same person."""
        for c in t.pending:
            result = self.gallery.identify_faces(c.crop, [c.face], far=self.far, threshold=self.threshold)[0]
            t.samples.append((c.quality, result))
        self.recognitions += len(t.pending)
        t.pending.clear()
        before, first, clash = t.person, t.verdict is None, t.conflict_with
        t.verdict, t.checked_s, t.conflict_with = vote(t.samples), time_s, None
        events: list[TrackEvent] = []
        if t.person is not None:
            rival = next((o for o in self._tracks.values() if o is not t and o.person == t.person), None)
            if rival is not None:
                loser = t if (t.verdict.weight if t.verdict else 0) <= (rival.verdict.weight if rival.verdict else 0) else rival
                winner = rival if loser is t else t
                news = loser is not t or clash != winner.track_id  # say it once, not at every re-vote
                loser.conflict_with = winner.track_id
                loser.checked_s = time_s
                if news:
                    log.info("tracks %d and %d both look like %s; track %d keeps the name", t.track_id, rival.track_id,
                             winner.person, winner.track_id)
                    events.append(TrackEvent("conflict", frame_index, time_s, loser.summary()))
                if loser is t:
                    return events
        if t.person is not None and t.person != before:
            events.append(TrackEvent("named", frame_index, time_s, t.summary()))
        elif t.person is None and first:
            events.append(TrackEvent("unknown", frame_index, time_s, t.summary()))
        return events

    def _end(self, t: TrackState, frame: Frame | None) -> list[TrackEvent]:
        events: list[TrackEvent] = []
        idx, ts = (frame.index, frame.time_s) if frame is not None else (t.last_frame, t.last_s)
        if t.verdict is None and t.pending:
            events += self._check(t, idx, ts)
        t.ended = True
        t.pending.clear()
        del self._tracks[t.track_id]
        self.tracker.forget(t.track_id)
        summary = t.summary()
        self._done.append(summary)
        self._thumbs[t.track_id] = t.best
        events.append(TrackEvent("ended", idx, ts, summary))
        return events

    def thumbnail(self, track_id: int, margin: float = 0.25) -> np.ndarray | None:
        """The track's best face (RGB), cut with a margin: the picture ``--faces`` writes."""
        open_track = self._tracks.get(track_id)
        c = open_track.best if open_track is not None else self._thumbs.get(track_id)
        if c is None:
            return None
        x1, y1, x2, y2 = c.face.box
        mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
        h, w = c.crop.shape[:2]
        xa, ya, xb, yb = int(max(0, x1 - mw)), int(max(0, y1 - mh)), int(min(w, x2 + mw)), int(min(h, y2 + mh))
        return c.crop[ya:yb, xa:xb].copy() if xb > xa and yb > ya else None


def _scale_face(face: Face, s: float) -> Face:
    return Face(
        tuple(v * s for v in face.box),  # type: ignore[arg-type]
        face.score,
        tuple((x * s, y * s) for x, y in face.landmarks),
    )


def _candidate(frame: Frame, face: Face, quality: float) -> Candidate:
    """A square crop of twice the face's size around it (enough context for alignment), and the face in it."""
    h, w = frame.image.shape[:2]
    cx, cy = face.center
    half = max(face.width, face.height)
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    crop = frame.image[y0:y1, x0:x1].copy()
    shifted = Face(
        (face.box[0] - x0, face.box[1] - y0, face.box[2] - x0, face.box[3] - y0),
        face.score,
        tuple((x - x0, y - y0) for x, y in face.landmarks),
    )
    return Candidate(quality, frame.index, crop, shifted)


def recognize(
    source: str | int | os.PathLike[str] | VideoSource,
    gallery: Gallery,
    *,
    detect_every: int = 5,
    recheck_every_s: float = 2.0,
    threshold: float | None = None,
    live: bool | None = None,
    **options: object,
) -> Iterator[TrackEvent]:
    """Track and recognise the faces of a video, camera or stream, yielding each track event as it happens.

    Events: ``started`` (a new face track), ``named`` (its vote named someone), ``unknown`` (its first vote named
    nobody; it is checked again every `recheck_every_s`), ``conflict`` (another track on screen holds the same
    person more strongly; this one stays UNKNOWN), ``ended`` (the track left; ``event.track`` is its final summary).
    A corrupt or truncated file ends every open track (their ``ended`` events come first), then raises VideoError.

    Args:
        source: a file path (read in order), a camera index or an RTSP/HTTP URL (newest frame only), or an open
            `VideoSource`.
        gallery: a `faceprint.Gallery` with the people to recognise.
        options: further `VideoRecognizer` settings (detector, detect_width, first_check, vote_faces, keep_lost_s).

    >>> for event in faceprint.video.recognize("door.mp4", gallery):   # doctest: +SKIP
    ...     print(event.kind, event.track.track_id, event.track.person)
    """
    src = source if isinstance(source, VideoSource) else open_source(source, live=live)
    try:
        rec = VideoRecognizer(gallery, src.fps, detect_every=detect_every, recheck_every_s=recheck_every_s,
                              threshold=threshold, **options)  # type: ignore[arg-type]
        last: Frame | None = None
        try:
            for frame in src:
                last = frame
                yield from rec.process(frame).events
        except VideoError:
            yield from rec.finish(last)
            raise
        yield from rec.finish(last)
    finally:
        if src is not source:
            src.close()

