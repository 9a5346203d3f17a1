"""Where frames come from: a video file read in order, or a live camera/stream read by a thread keeping the newest.

A file is decoded with PyAV frame by frame, none skipped, with each frame's time from the file. A live source
(a camera index such as ``0``, an ``rtsp://`` or ``http://`` URL) is read with OpenCV by a background thread that
keeps only the newest frame: when recognition is slower than the camera, old frames are dropped instead of
piling up in OpenCV's buffer (the lag users of RTSP cameras see).

>>> with open_source("door.mp4") as src:            # doctest: +SKIP
...     for frame in src:
...         print(frame.index, frame.time_s, frame.image.shape)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from faceprint._extras import optional_module
from faceprint.errors import VideoError

__all__ = ["Frame", "VideoSource", "FileSource", "LiveSource", "open_source", "is_live"]

log = logging.getLogger(__name__)

LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame: its number in the source (0-based), its time in seconds and the RGB uint8 pixels."""

    index: int
    time_s: float
    image: np.ndarray


def is_live(source: str | int | os.PathLike[str]) -> bool:
    """True for a camera index (``0``, ``"1"``) or a stream URL; False for a file path."""
    if isinstance(source, int):
        return True
    s = str(source)
    return s.isdigit() or s.lower().startswith(LIVE_PREFIXES)


class VideoSource:
    """Frames in order with the source's frame rate and size; close it (or use ``with``) to release the source."""

    name: str
    fps: float
    width: int
    height: int
    frame_count: int | None
    """Frames the container declares (None for a live source or when the file does not say)."""

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the file or camera."""

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()




class FileSource(VideoSource):
    """A video file decoded in order with PyAV; a truncated or corrupt file raises VideoError naming the frame."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        av = optional_module("av", extra="video")
        self.name = str(path)
        if not Path(path).is_file():
            raise VideoError(self.name, "no such file")
        try:
            self._container = av.open(self.name)
        except av.error.FFmpegError as exc:
            raise VideoError(self.name, f"cannot open as a video ({_reason(exc)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(self.name, "has no video stream")
        if self._container.format.name == "image2" or self._container.format.name.endswith("_pipe"):
            self._container.close()  # FFmpeg opens a photo as a one-frame video; say what it is instead
            raise VideoError(self.name, "a still image, not a video (faceprint identify names the faces of photos)")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(25)
        self.rate = Fraction(rate)
        self.fps = float(self.rate)
        self.width = int(self._stream.codec_context.width)
        self.height = int(self._stream.codec_context.height)
        self.frame_count = int(self._stream.frames) or None

    def __iter__(self) -> Iterator[Frame]:
        av = optional_module("av", extra="video")
        index = 0
        decoded = self._container.decode(self._stream)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                raise VideoError(self.name, f"corrupt or truncated video ({_reason(exc)}); decoding stopped", index) from None
            t = float(frame.time) if frame.time is not None else index / self.fps
            yield Frame(index, t, frame.to_ndarray(format="rgb24"))
            index += 1
        if self.frame_count is not None and index < self.frame_count:
            raise VideoError(self.name, f"truncated video: it ends after {index} of the {self.frame_count} frames its header declares", index)

    def close(self) -> None:
        self._container.close()


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


class LiveSource(VideoSource):
    """A camera or stream read by a background thread that keeps only the newest frame.

    Iterating gives each newest frame once; frames that arrived while the consumer was busy are dropped (their
    numbers are skipped, so ``Frame.index`` counts what the source sent). Times are seconds since opening. The
    iteration ends when the stream ends or the source is closed.

    Args:
        source: a camera index (int or digit string) or a URL OpenCV's FFmpeg backend opens (a file path also
            works, which is how the tests drive it).
    """

    def __init__(self, source: str | int | os.PathLike[str]) -> None:
        import cv2

        self.name = str(source)
        target: Any = int(source) if isinstance(source, int) or str(source).isdigit() else str(source)
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise VideoError(self.name, "cannot open the camera or stream")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
        if not 1.0 <= self.fps <= 240.0:  # cameras report 0 or nonsense; 25 is a safe frame rate to write
            self.fps = 25.0
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frame_count = None
        self.dropped = 0
        """Frames read from the source but replaced by a newer one before the consumer took them."""
        self._cond = threading.Condition()
        self._newest: Frame | None = None
        self._ended = False
        self._error: str | None = None
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._read, name=f"faceprint-video-reader {self.name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import cv2

        index = 0
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                if not ok:
                    break
                frame = Frame(index, time.monotonic() - self._t0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                index += 1
                with self._cond:
                    if self._newest is not None:
                        self.dropped += 1
                    self._newest = frame
                    self._cond.notify_all()
        except cv2.error as exc:  # pragma: no cover - depends on the camera
            self._error = str(exc)
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        last = -1
        while True:
            with self._cond:
                while self._newest is None and not self._ended:
                    self._cond.wait(timeout=0.5)
                frame, self._newest = self._newest, None
            if frame is None:  # ended, and the last frame was already taken
                break
            last = frame.index
            yield frame
        if self._error is not None:
            raise VideoError(self.name, f"the stream failed ({self._error})", last + 1)
        if last < 0:
            raise VideoError(self.name, "the camera or stream sent no frame", 0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._cap.release()


def open_source(source: str | int | os.PathLike[str], *, live: bool | None = None) -> VideoSource:
    """Open a video file (read in order) or a live camera/stream (newest frame only).

    Args:
        source: a file path, a camera index (``0``) or an RTSP/HTTP URL.
        live: force the live reader (True) or the file reader (False); default: a camera index or URL is live.

    Raises:
        VideoError: the source cannot be opened. MissingExtra: PyAV is not installed (``faceprint[video]``).
    """
    if live is None:
        live = is_live(source)
    return LiveSource(source) if live else FileSource(source)  # type: ignore[arg-type]
