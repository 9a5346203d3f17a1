"""Video and cameras: recognise each person once per face track, from a file, a camera or a stream.

>>> import faceprint, faceprint.video
>>> with faceprint.Gallery("people.sqlite") as g:                       # doctest: +SKIP
...     for event in faceprint.video.recognize("door.mp4", g):
...         print(event.kind, event.track.track_id, event.track.person)

Needs the ``video`` extra (PyAV to decode and encode, SciPy for the tracker's assignment): ``pip install
'faceprint[video]'``, and YuNet's weights (``faceprint models fetch yunet``; ``make weights`` fetches them).
Modules: ``source`` (files in order, live sources newest-frame-only), ``tracker`` (motion model and association in
face sizes), ``appearance`` (a cheap signature that notices a change of face), ``quality`` (how good a face is to
embed), ``tracks`` (track records and the quality-weighted vote), ``recognizer`` (the per-frame work), ``writers``
(annotated video, tracks.jsonl, thumbnails).
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
