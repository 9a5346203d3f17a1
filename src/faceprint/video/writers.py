"""What `faceprint video` writes: the annotated video, tracks.jsonl (one line per track) and face thumbnails."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from faceprint._extras import optional_module
from faceprint.errors import OutputError, VideoError
from faceprint.types import Face
from faceprint.video.recognizer import FrameResult
from faceprint.video.tracks import TrackSummary
from faceprint.viz.annotate import GREEN, RED, draw_faces

__all__ = ["AnnotatedVideoWriter", "TracksWriter", "save_thumbnail", "annotate_frame", "VIDEO_FORMATS", "video_format"]

VIDEO_FORMATS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", "libx264"),
    ".m4v": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".avi": ("avi", "mpeg4"),
    ".webm": ("webm", "libvpx-vp9"),
}
"""What each file extension of an annotated video is written as: (container, codec). AVI gets MPEG-4 Part 2, the
codec AVI players expect; WebM gets VP9."""


def video_format(path: str | os.PathLike[str]) -> tuple[str, str]:
    """The (container, codec) a video path's extension asks for; OutputError listing the extensions for others."""
    ext = Path(path).suffix.lower()
    if ext not in VIDEO_FORMATS:
        raise OutputError(f"{path}: cannot write a video as {ext or 'a file without an extension'}; "
                          f"use one of {', '.join(VIDEO_FORMATS)}")
    return VIDEO_FORMATS[ext]

GREY = (160, 160, 160)
ORANGE = (255, 140, 0)
_NO_LANDMARKS = ((0.0, 0.0),) * 5


def annotate_frame(result: FrameResult) -> np.ndarray:
    """A copy of the frame with each shown track's box and label: green named (with confidence), red UNKNOWN,
    orange UNKNOWN because a simultaneous track holds the same person, grey not yet recognised; ``#id`` first."""
    faces, labels, colors = [], [], []
    for s in result.shown:
        faces.append(Face(s.box, 1.0, _NO_LANDMARKS))
        labels.append(s.track.label())
        t = s.track
        colors.append(GREEN if t.person else ORANGE if t.conflict_with is not None else RED if t.unknown else GREY)
    if not faces:
        return result.frame.image
    return draw_faces(result.frame.image, faces, labels, colors, landmarks=False)


class AnnotatedVideoWriter:
    """A video (yuv420p, the source's frame rate) written frame by frame with PyAV; one frame in, one out. Its
    extension chooses the container and codec (`VIDEO_FORMATS`: H.264 in .mp4/.mov/.mkv, MPEG-4 in .avi, VP9 in
    .webm); another extension raises OutputError.

    Odd widths or heights (which yuv420p cannot hold) are padded by one black pixel. x264's ``superfast`` preset:
    at 720p it encodes in about half the time of ``veryfast`` (18 vs 40 ms a frame here), and unlike ``ultrafast``
    keeps CABAC, so files stay smaller.
    """

    def __init__(
        self, path: str | os.PathLike[str], fps: float | Fraction, width: int, height: int, crf: int = 23, preset: str = "superfast"
    ) -> None:
        av = optional_module("av", extra="video")
        self.path = Path(path)
        container, codec = video_format(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self.width, self.height = width + width % 2, height + height % 2
        # faststart: the index goes at the front, so players (and a cut-off copy) can start before the end
        options = {"movflags": "faststart"} if container in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self.path), "w", format=container, options=options)
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoError(str(self.path), f"cannot write the annotated video ({exc})") from None
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.width, self._stream.height, self._stream.pix_fmt = self.width, self.height, "yuv420p"
        if codec == "libx264":
            self._stream.options = {"preset": preset, "crf": str(crf)}
        elif codec == "libvpx-vp9":
            self._stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": str(crf + 10), "b": "0"}
        else:
            self._stream.options = {"qscale": "3"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame."""
        av = optional_module("av", extra="video")
        h, w = rgb.shape[:2]
        if (w, h) != (self.width, self.height):
            rgb = cv2.copyMakeBorder(rgb, 0, self.height - h, 0, self.width - w, cv2.BORDER_CONSTANT, value=0)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (the MP4 index is written here)."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TracksWriter:
    """tracks.jsonl: one JSON object per track, written (and flushed) as each track ends, so a video that breaks
    off still leaves the tracks found so far."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(self.path, "w", encoding="utf-8")
        self.count = 0

    def write(self, track: TrackSummary, **extra: Any) -> None:
        self._f.write(json.dumps({**track.to_dict(), **extra}) + "\n")
        self._f.flush()
        self.count += 1

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> TracksWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def save_thumbnail(folder: str | os.PathLike[str], track: TrackSummary, rgb: np.ndarray) -> Path:
    """Write a track's best face as ``track_0007.jpg`` in `folder` (the folder a clustering run can group)."""
    out = Path(folder) / f"track_{track.track_id:04d}.jpg"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise VideoError(str(out), "cannot write the face thumbnail")
    return out
