"""One video clip, start to end, within limits: the loop behind the service's ``/video`` route.

`recognize_clip` opens a clip file, refuses it when its header declares more frames or larger frames than the
caller allows, feeds every frame to a `VideoRecognizer` and returns its tracks; it stops at the frame limit or at
a deadline. It is the library's half of the route: the route turns the errors into HTTP answers.

>>> with faceprint.Gallery("people.sqlite") as g:                      # doctest: +SKIP
...     clip = recognize_clip("door.mp4", g, max_frames=1800)
>>> [t.person for t in clip.tracks]                                    # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from faceprint.errors import DeadlineExceeded, VideoError, VideoTooLarge

__all__ = ["ClipResult", "recognize_clip"]


@dataclass(frozen=True)
class ClipResult:
    """The tracks of one clip (by first frame, then id) and what was decoded."""

    tracks: list[Any]
    """TrackSummary records, as `VideoRecognizer.tracks` holds them."""
    frames: int
    fps: float
    width: int
    height: int
    recognitions: int

    def to_dict(self) -> dict[str, Any]:
        return {"tracks": [t.to_dict() for t in self.tracks], "frames": self.frames, "fps": round(self.fps, 3),
                "width": self.width, "height": self.height, "recognitions": self.recognitions}


def recognize_clip(
    path: str | os.PathLike[str], gallery: Any, *, label: str | None = None, detector: Any = None,
    detect_every: int = 5, recheck_every_s: float = 2.0, far: float = 0.01, threshold: float | None = None,
    max_frames: int | None = None, max_pixels: int | None = None, deadline: float | None = None,
) -> ClipResult:
    """Every face track of the clip at `path`, each recognised in `gallery` as `faceprint video` does.

    Args:
        label: the clip's name in error messages (default: the path).
        detector: a video detector (`faceprint.video.video_detector`) to reuse; default: a new one.
        max_frames / max_pixels: refuse a clip with more frames, or more pixels per frame (from its header, then
            counted while decoding).
        deadline: a `time.monotonic()` time after which the work stops.

    Raises:
        VideoError: the clip cannot be opened or breaks off (`frame` says where). VideoTooLarge: above a limit.
        DeadlineExceeded: the deadline passed. EmptyGallery: nobody to recognise.
    """
    from faceprint.video import VideoRecognizer, video_detector
    from faceprint.video.source import FileSource

    name = label or str(path)
    try:
        src = FileSource(path)
    except VideoError as exc:
        raise VideoError(name, exc.reason, exc.frame) from None
    with src:
        if max_pixels is not None and src.width * src.height > max_pixels:
            raise VideoTooLarge(name, f"{src.width} x {src.height} frames, above the limit of {max_pixels:,} pixels")
        if max_frames is not None and src.frame_count is not None and src.frame_count > max_frames:
            raise VideoTooLarge(name, f"{src.frame_count:,} frames, above the limit of {max_frames:,}")
        det = detector if detector is not None else video_detector()
        rec = VideoRecognizer(gallery, src.fps, detect_every=detect_every, recheck_every_s=recheck_every_s, far=far,
                              threshold=threshold, detector=det)
        last = None
        try:
            for frame in src:
                if max_frames is not None and frame.index >= max_frames:
                    raise VideoTooLarge(name, f"more than {max_frames:,} frames, the limit")
                if deadline is not None and time.monotonic() > deadline:
                    raise DeadlineExceeded(f"{name}: stopped at frame {frame.index}, past the deadline")
                rec.process(frame)
                last = frame
        except VideoError as exc:
            if isinstance(exc, VideoTooLarge):
                raise
            raise VideoError(name, exc.reason, exc.frame) from None
        rec.finish(last)
        tracks = sorted(rec.tracks, key=lambda t: (t.first_frame, t.track_id))
        return ClipResult(tracks, rec.frames, src.fps, src.width, src.height, rec.recognitions)
