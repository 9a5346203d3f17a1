"""Recognise people once per track: detect every few frames, track in between, embed only each track's best faces.

>>> with faceprint.Gallery("people.sqlite") as g:                      # doctest: +SKIP
...     for event in faceprint.video.recognize("door.mp4", g):
...         if event.kind == "named":
...             print(event.time_s, event.track.person)

Per frame the work is: decode; when a detection is due, detect faces (YuNet, on a copy scaled to ``detect_width``)
and update the tracker; on the other frames move each track's box along its velocity. Detection is due after
``detect_every`` frames at the latest, on the very next frame while a face has been seen but not yet confirmed as
a track, and sooner for faces that move fast for their size (``max_shift``), so a face crossing the frame quickly
is never left behind.

A confirmed track collects its faces with their quality (sharpness, size, frontality); after ``first_check``
detections (default: its first) its best face so far is embedded and votes, so a name shows at once; each
following detection adds its face to the vote (weighted by quality) until ``vote_faces`` faces have voted. A track
the vote leaves UNKNOWN is checked again every ``recheck_every_s`` seconds with its best new faces.

A track never carries a name across a change of person. Its face is embedded again and compared with the track's
own recent faces when it may have changed: the track was lost and found again, its appearance signature jumped
(`faceprint.video.appearance`), or ``recheck_every_s`` passed. The track refuses another person's face (it is lost
from that frame, and ends after ``keep_lost_s`` unless its own face comes back); that face starts a track of its
own. A new track whose faces match a track lost less than ``keep_lost_s`` ago continues that
track (one person, one track across a short absence). Two tracks on screen at once are never both named as one
person: the one with the stronger vote keeps the name, the other becomes UNKNOWN with ``conflict_with`` pointing
at it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from faceprint.api import Gallery, check_threshold
from faceprint.detect import Detector, create_detector
from faceprint.errors import VideoError
from faceprint.gallery.identify import build_identifier
from faceprint.recognize.images import FaceResult
from faceprint.recognize.open_set import DEFAULT_FAR
from faceprint.types import Face, pairwise_distances
from faceprint.video.appearance import SIGNATURE_CHANGE, SIGNATURE_MEMORY, appearance_signature, signature_similarity
from faceprint.video.quality import face_quality
from faceprint.video.source import Frame, VideoSource, open_source
from faceprint.video.tracker import FaceTracker, TrackedFace
from faceprint.video.tracks import Candidate, TrackEvent, TrackState, TrackSummary, vote

__all__ = ["VideoRecognizer", "FrameResult", "ShownTrack", "recognize", "video_detector"]

log = logging.getLogger(__name__)

DEFAULT_VIDEO_DETECTOR = "yunet"
"""Video's detector: YuNet finds faces down to ~16 px in 5-10 ms a 640-pixel frame, where MTCNN takes 35-50 ms and
misses faces under its smallest size (bench/video.py)."""
DEFAULT_MIN_FACE = 40
"""MTCNN's smallest face, in pixels of the detection copy: 20 (the photo default) costs ~5x more per frame."""
DEFAULT_YUNET_MIN_FACE = 16
"""YuNet's smallest face in pixels of the detection copy (its cost hardly depends on it)."""
DEFAULT_DETECT_EVERY = 3
"""The longest run of frames between two detections (detection comes sooner when a face is new or moves fast)."""
KEEP_VECTORS = 8
"""Embeddings of a track's recent faces kept to compare new faces with."""


def video_detector(name: str = DEFAULT_VIDEO_DETECTOR, min_face: int | None = None) -> Detector:
    """The detector for video frames: YuNet (default), MTCNN with a larger smallest face than for photos (speed),
    or dlib-hog. `min_face`: the smallest face searched for, in pixels of the detection copy (MTCNN and YuNet)."""
    if name == "mtcnn":
        return create_detector(name, min_face_size=DEFAULT_MIN_FACE if min_face is None else min_face)
    if name == "yunet":
        return create_detector(name, min_face_size=DEFAULT_YUNET_MIN_FACE if min_face is None else min_face)
    return create_detector(name)


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
        detect_every: the longest run of frames between two detections (1 = every frame). Detection comes sooner
            while a face is tentative (seen once, not yet a track) and when a face moves fast for its size.
        recheck_every_s: how often a track is checked again with its newest face: an UNKNOWN one may be named
            now, a named one must still be its person.
        far: the share of strangers that may be named as someone (per face checked; sets the open-set threshold for
            the gallery's size, as `faceprint identify --far` does).
        threshold: a fixed open-set distance threshold instead (0 is refused, as `identify` refuses it).
        detector: a detector; default YuNet (`video_detector`).
        detect_width: frames wider than this are scaled down to it for detection (boxes are scaled back).
        first_check: detections of a new track before its first vote (it collects its best faces meanwhile).
        vote_faces: faces that vote on a track before its name is settled; also the most embedded per re-check
            (the best of those collected since the last one).
        keep_lost_s: a track not detected for this long has ended. A face that comes back sooner continues its
            track: matched by motion (then re-checked by embedding) or linked to it by embedding.
        max_shift: the most a face may move between two detections, in its own sizes (detection comes sooner for
            faster faces).
    """

    def __init__(
        self,
        gallery: Gallery,
        fps: float,
        *,
        detect_every: int = DEFAULT_DETECT_EVERY,
        recheck_every_s: float = 2.0,
        far: float = DEFAULT_FAR,
        threshold: float | None = None,
        detector: Detector | None = None,
        detect_width: int | None = 640,
        first_check: int = 1,
        vote_faces: int = 3,
        keep_lost_s: float = 1.0,
        max_shift: float = 1.0,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if recheck_every_s <= 0:
            raise ValueError(f"recheck_every_s must be > 0, got {recheck_every_s}")
        if first_check < 1 or vote_faces < 1:
            raise ValueError("first_check and vote_faces must be >= 1")
        if max_shift <= 0:
            raise ValueError(f"max_shift must be > 0, got {max_shift}")
        check_threshold(threshold)
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
        self.max_shift = float(max_shift)
        self.tracker = FaceTracker(self.fps, keep_lost_s=keep_lost_s)
        self._identifier = build_identifier(gallery.store, gallery.analyzer, threshold, far=far)
        self.same_person = float(gallery.analyzer.embedder.spec.threshold)
        """Embedding distance within which two faces of a track are one person (the model's verify threshold)."""
        self._tracks: dict[int, TrackState] = {}
        self._done: list[TrackSummary] = []
        self._processed = 0
        self._last_detection_frame = -1
        self._previous_detection = -1
        self._thumbs: dict[int, Candidate | None] = {}
        self.recognitions = 0
        """Faces embedded and matched so far (the work the tracker saves is frames x faces minus this)."""
        self.detections = 0
        """Frames on which faces were detected."""
        self.refusals = 0
        """Faces a track refused when re-checked: someone else's (they start a track of their own)."""
        self.links = 0
        """Faces that came back after being lost and were linked to their old track by embedding."""
        self.frames = 0

    # -- the per-frame step ------------------------------------------------------------------------------------

    def process(self, frame: Frame) -> FrameResult:
        """Detect (when due), track, recognise; returns what to draw and what happened."""
        events: list[TrackEvent] = []
        detected = self._due(frame.index) or self._changed(frame)
        self._processed += 1
        self.frames += 1
        shown: list[ShownTrack] = []
        if detected:
            self.detections += 1
            faces = self._detect(frame.image)
            tracked = self.tracker.update(frame.index, faces)
            seen: set[int] = set()
            fresh: list[TrackState] = []
            for tf in tracked:
                t = self._tracks.get(tf.track_id)
                if t is None:
                    t = self._new_track(tf.track_id, frame, tf.face, tf.first_frame)
                    fresh.append(t)
                else:
                    kept, more = self._continue(t, frame, tf)
                    events += more
                    if kept is None:
                        continue
                    t = kept
                    if not t.announced:
                        fresh.append(t)
                seen.add(t.track_id)
            for t in list(self._tracks.values()):
                if t.track_id not in seen and frame.index - t.last_detected > self.tracker.keep_lost_frames:
                    events += self._end(t, frame)
            for t in fresh:
                t, more = self._first_check(t, frame)
                events += more
                seen.add(t.track_id)
            for t in list(self._tracks.values()):
                if t.track_id in seen and t.announced:
                    events += self._maybe_check(t, frame)
            visible = [t for t in self._tracks.values() if t.track_id in seen and t.announced]
            self._previous_detection, self._last_detection_frame = self._last_detection_frame, frame.index
        else:
            visible = [t for t in self._tracks.values() if t.last_detected == self._last_detection_frame]
            for t in visible:
                t.box = self.tracker.predict(t.track_id, frame.index) or t.box
        visible += self._leaving(frame, visible)
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
        return list(self._done) + [t.summary() for t in sorted(self._tracks.values(), key=lambda t: t.track_id) if t.announced]

    # -- internals ---------------------------------------------------------------------------------------------

    def _due(self, index: int) -> bool:
        """Detect on this frame? After `detect_every` frames at the latest; on the next frame while a face is
        tentative; and often enough that no track's face moves more than `max_shift` of its size in between."""
        if self._last_detection_frame < 0:
            return True
        interval = self.detect_every
        if self.tracker.tentative:
            interval = 1
        for t in self._tracks.values():
            speed = self.tracker.relative_speed(t.track_id)
            if speed > 0:
                interval = min(interval, max(1, int(self.max_shift / speed)))
        return index - self._last_detection_frame >= interval

    def _leaving(self, frame: Frame, visible: list[TrackState]) -> list[TrackState]:
        """Tracks lost while walking out of the picture: a face cut by the frame's edge is seldom detected, so the
        box is carried along its velocity while its centre is still inside the frame, its box crosses an edge and
        it moves out through that edge, for at most two detection intervals (a face that stops being detected near
        the edge without walking out is not drawn on: nobody may be there)."""
        h, w = frame.image.shape[:2]
        out = []
        for t in self._tracks.values():
            if t in visible or not t.announced or not t.leaving and t.last_detected != self._previous_detection:
                continue
            box = self.tracker.predict(t.track_id, frame.index)
            if box is None:
                continue
            x1, y1, x2, y2 = box
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            vx, vy = self.tracker.velocity(t.track_id)
            out_x = (x1 < 0 and vx < 0) or (x2 > w and vx > 0)
            out_y = (y1 < 0 and vy < 0) or (y2 > h and vy > 0)
            recent = frame.index - t.last_detected <= 2 * self.detect_every  # a ghost box lasts a few frames at most
            t.leaving = recent and 0 <= cx < w and 0 <= cy < h and (out_x or out_y)
            if t.leaving:
                t.box = box
                out.append(t)
        return out

    def _changed(self, frame: Frame) -> bool:
        """Between detections: does any shown track's face look different at its predicted box (it left, or
        someone else stepped in)? Then detect now rather than carry its name over someone else's face."""
        for t in self._tracks.values():
            if t.last_detected != self._last_detection_frame or t.signature is None:
                continue
            box = self.tracker.predict(t.track_id, frame.index) or t.box
            if signature_similarity(t.signature, appearance_signature(frame.image, box)) < SIGNATURE_CHANGE:
                return True
        return False

    def _detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        if self.detect_width is None or w <= self.detect_width:
            return self.detector.detect(image)
        s = self.detect_width / w
        small = cv2.resize(image, (self.detect_width, max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        return [_scale_face(f, 1.0 / s) for f in self.detector.detect(small)]

    def _new_track(self, track_id: int, frame: Frame, face: Face, first_frame: int) -> TrackState:
        """A track the tracker just confirmed; announced (``started``) after its first check, unless that links
        it to a lost track of the same person."""
        first_s = max(0.0, frame.time_s - (frame.index - first_frame) / self.fps)
        t = TrackState(track_id, first_frame, first_s, frame.index, frame.time_s, frame.index, face.box)
        t.detections = 1
        t.signature = appearance_signature(frame.image, face)
        self._tracks[track_id] = t
        self._collect(t, frame, face)
        return t

    def _continue(self, t: TrackState, frame: Frame, tf: TrackedFace) -> tuple[TrackState | None, list[TrackEvent]]:
        """The tracker matched a face to an open track. When the face may have changed (the track was lost for a
        while, its appearance jumped, or `recheck_every_s` passed since its last check) it is embedded and compared
        with the track's own faces; another person's face is refused (None): the track is lost from this frame on."""
        face = tf.face
        sig = appearance_signature(frame.image, face)
        missed = t.last_detected != self._last_detection_frame
        jumped = t.signature is not None and signature_similarity(t.signature, sig) < SIGNATURE_CHANGE
        due = t.verdict is not None and frame.time_s - t.verified_s >= self.recheck_every_s
        events: list[TrackEvent] = []
        if t.announced and (missed or jumped or due):
            cand = _candidate(frame, face, face_quality(frame.image, face).score)
            result, vec = self._identify(cand)
            t.embedded += 1
            if not self._same_person(t, vec, result):
                # Someone else's face (or one too covered to tell): the track does not take it, and is not shown
                # until its own face is back; the face starts a track of its own, which the next detection
                # confirms (and which continues this one if it is this person after all).
                log.info("track %d: the face on frame %d is not its person's", t.track_id, frame.index)
                self.refusals += 1
                self.tracker.detach(t.track_id)
                return None, events
            t.vectors = (t.vectors + [vec])[-KEEP_VECTORS:]
            t.verified_s = frame.time_s
        t.signature = sig if t.signature is None else SIGNATURE_MEMORY * t.signature + (1 - SIGNATURE_MEMORY) * sig
        t.last_detected, t.box, t.detections, t.leaving = frame.index, face.box, t.detections + 1, False
        self._collect(t, frame, face)
        return t, events

    def _first_check(self, t: TrackState, frame: Frame) -> tuple[TrackState, list[TrackEvent]]:
        """Recognise a newly confirmed track; link it to a lost open track whose faces it matches, else announce it.
        With `first_check` above 1 the track is announced at once and votes later (and is not linked)."""
        if t.detections < self.first_check and not t.samples:
            t.announced = True
            return t, [TrackEvent("started", frame.index, frame.time_s, t.summary())]
        self._embed_pending(t)
        lost = self._linkable(t, frame)
        if lost is not None:
            log.info("track %d is track %d back after %d frames", t.track_id, lost.track_id, frame.index - lost.last_detected)
            self.links += 1
            self.tracker.merge(t.track_id, lost.track_id)
            del self._tracks[t.track_id]
            lost.samples += t.samples
            lost.embedded += t.embedded
            lost.vectors = (lost.vectors + t.vectors)[-KEEP_VECTORS:]
            lost.last_detected, lost.box, lost.detections = frame.index, t.box, lost.detections + t.detections
            lost.signature = t.signature
            if t.best is not None and (lost.best is None or t.best.quality > lost.best.quality):
                lost.best = t.best
            return lost, self._vote(lost, frame.index, frame.time_s)
        t.announced = True
        events = [TrackEvent("started", frame.index, frame.time_s, t.summary())]
        return t, events + self._vote(t, frame.index, frame.time_s)

    def _linkable(self, t: TrackState, frame: Frame) -> TrackState | None:
        """The open track, not seen on this frame, whose own faces are nearest to `t`'s (within `same_person`)."""
        if not t.vectors:
            return None
        named = vote(t.samples).person if t.samples else None
        best, best_d = None, self.same_person
        for o in self._tracks.values():
            if o is t or not o.announced or o.last_detected >= frame.index or not o.vectors:
                continue
            if named is not None and o.person is not None and named != o.person:
                continue  # the gallery tells them apart
            d = float(pairwise_distances(np.stack(t.vectors), np.stack(o.vectors), self._identifier.metric).min())
            if d <= best_d:
                best, best_d = o, d
        return best

    def _identify(self, c: Candidate) -> tuple[FaceResult, np.ndarray]:
        """Embed one face and match it against the gallery: its result and its embedding vector."""
        emb = self.gallery.analyzer.embed_faces(c.crop, [c.face])
        self.recognitions += 1
        match = self._identifier.identify(emb)[0]
        return FaceResult("<frame>", c.face, match), emb.vectors[0]

    def _same_person(self, t: TrackState, vec: np.ndarray, result: FaceResult) -> bool:
        """A new face of track `t` shows its person: near its own recent faces, or named as its named person."""
        if t.person is not None and result.person == t.person:
            return True
        if not t.vectors:
            return True
        d = pairwise_distances(vec[None, :], np.stack(t.vectors), self._identifier.metric)
        return float(d.min()) <= self.same_person

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

    def _embed_pending(self, t: TrackState) -> None:
        for c in t.pending:
            result, vec = self._identify(c)
            t.embedded += 1
            t.samples.append((c.quality, result))
            t.vectors = (t.vectors + [vec])[-KEEP_VECTORS:]
        t.pending.clear()

    def _check(self, t: TrackState, frame_index: int, time_s: float) -> list[TrackEvent]:
        """Embed the pending faces and vote."""
        self._embed_pending(t)
        return self._vote(t, frame_index, time_s)

    def _vote(self, t: TrackState, frame_index: int, time_s: float) -> list[TrackEvent]:
        """Vote on the track's faces, and settle any clash with another open track over the same person."""
        if not t.samples:
            return []
        before, first, clash = t.person, t.verdict is None, t.conflict_with
        if first:
            t.verified_s = time_s  # its faces so far are the ones later faces are compared with
        t.verdict, t.checked_s, t.conflict_with = vote(t.samples), time_s, None
        events: list[TrackEvent] = []
        if t.person is not None:
            rival = next((o for o in self._tracks.values() if o is not t and o.announced and o.person == t.person), None)
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

    def _end(self, t: TrackState, frame: Frame | None, keep_tracker: bool = False) -> list[TrackEvent]:
        events: list[TrackEvent] = []
        idx, ts = (frame.index, frame.time_s) if frame is not None else (t.last_frame, t.last_s)
        if not t.announced:  # confirmed, but it ended before its first check was due (first_check > 1)
            t.announced = True
            events.append(TrackEvent("started", idx, ts, t.summary()))
        if t.verdict is None and t.pending:
            events += self._check(t, idx, ts)
        t.ended = True
        t.pending.clear()
        del self._tracks[t.track_id]
        if not keep_tracker:
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
    detect_every: int = DEFAULT_DETECT_EVERY,
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
        options: further `VideoRecognizer` settings (detector, detect_width, first_check, vote_faces, keep_lost_s,
            max_shift).

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

