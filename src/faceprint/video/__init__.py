"""Video and cameras: recognise each person once per face track, from a file, a camera or a stream.

>>> import faceprint, faceprint.video
>>> with faceprint.Gallery("people.sqlite") as g:                       # doctest: +SKIP
...     for event in faceprint.video.recognize("door.mp4", g):
...         print(event.kind, event.track.track_id, event.track.person)

Needs the ``video`` extra (PyAV to decode and encode, `supervision` for ByteTrack): ``pip install 'faceprint[video]'``.
Modules: ``source`` (files in order, live sources newest-frame-only), ``tracker`` (ByteTrack adapter), ``quality``
(how good a face is to embed), ``tracks`` (track records and the quality-weighted vote), ``recognizer`` (the
per-frame work), ``writers`` (annotated MP4, tracks.jsonl, thumbnails).
"""

from __future__ import annotations

from faceprint.video.recognizer import FrameResult, ShownTrack, VideoRecognizer, recognize, video_detector
from faceprint.video.source import Frame, VideoSource, open_source
from faceprint.video.tracks import TrackEvent, TrackSummary

__all__ = [
    "recognize",
    "VideoRecognizer",
    "TrackEvent",
    "TrackSummary",
    "FrameResult",
    "ShownTrack",
    "Frame",
    "VideoSource",
    "open_source",
    "video_detector",
]
