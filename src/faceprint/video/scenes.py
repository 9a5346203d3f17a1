"""Synthetic scenes with known ground truth: face photos moved and scaled across a background.

Tests and ``bench/video.py`` build their clips with this instead of shipping videos: each actor is a photo that
enters, moves along straight segments between keyframes, grows or shrinks, may pass in front of another actor, and
leaves; every frame's truth (who is where) is known, so tracks, names and spans can be checked exactly.

>>> scene = Scene(320, 240, fps=25, duration_s=3, actors=[
...     Actor("Ada", photo, [(0.0, 60, 120, 80), (3.0, 260, 120, 120)])])     # doctest: +SKIP
>>> write_scene(scene, "pan.mp4")                                              # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceprint.image import load_image

__all__ = ["Actor", "Scene", "write_scene", "write_scene_by_actor", "face_photo"]


def face_photo(path: str | os.PathLike[str], crop: float = 0.56) -> np.ndarray:
    """The central `crop` share of a photo (RGB): for LFW's 250x250 photos, the face with a little margin."""
    img = load_image(path)
    h, w = img.shape[:2]
    ch, cw = int(h * crop), int(w * crop)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return img[y0 : y0 + ch, x0 : x0 + cw].copy()


@dataclass(frozen=True)
class Actor:
    """A photo on the move. `path` is keyframes (time_s, centre x, centre y, side in pixels), linear in between;
    the actor is on screen from the first keyframe's time to the last's. Later actors are drawn on top."""

    name: str | None
    """Who the photo shows (None for a stranger whose name is not enrolled; the truth is then UNKNOWN)."""
    photo: np.ndarray
    path: Sequence[tuple[float, float, float, float]]

    def at(self, t: float) -> tuple[float, float, float] | None:
        """(cx, cy, side) at time `t`, or None when off screen."""
        ts = [k[0] for k in self.path]
        if t < ts[0] or t > ts[-1]:
            return None
        for (t0, *a), (t1, *b) in zip(self.path, self.path[1:]):
            if t0 <= t <= t1:
                f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                return tuple(float(x + f * (y - x)) for x, y in zip(a, b))  # type: ignore[return-value]
        return tuple(float(v) for v in self.path[-1][1:])  # type: ignore[return-value]


@dataclass(frozen=True)
class Scene:
    """A clip of `duration_s` seconds at `fps` frames/s, `width` x `height`, with its actors."""

    width: int
    height: int
    fps: float
    duration_s: float
    actors: Sequence[Actor]
    seed: int = 0

    @property
    def frame_count(self) -> int:
        return int(round(self.duration_s * self.fps))

    def background(self) -> np.ndarray:
        """A fixed textured background (a flat one would make every face trivially easy)."""
        rng = np.random.default_rng(self.seed)
        small = rng.integers(40, 200, size=(max(2, self.height // 40), max(2, self.width // 40), 3), dtype=np.uint8)
        return cv2.resize(small, (self.width, self.height), interpolation=cv2.INTER_CUBIC)

    def frames(self) -> Iterator[tuple[np.ndarray, list[tuple[str | None, tuple[float, float, float, float]]]]]:
        """Each frame (RGB) with its truth: (name, box of the photo) for every actor on screen, top-most last."""
        for img, truth in self.frames_by_actor():
            yield img, [(self.actors[a].name, box) for a, box in truth]

    def frames_by_actor(self) -> Iterator[tuple[np.ndarray, list[tuple[int, tuple[float, float, float, float]]]]]:
        """Each frame (RGB) with its truth as (index of the actor in `actors`, box of the photo), top-most last: an
        actor entry is one appearance, so a person who leaves and comes back is two entries with one name."""
        bg = self.background()
        for i in range(self.frame_count):
            t = i / self.fps
            img = bg.copy()
            drawn = []
            for a, actor in enumerate(self.actors):
                pos = actor.at(t)
                if pos is None:
                    continue
                cx, cy, side = pos
                box = _paste(img, actor.photo, cx, cy, side)
                if box is not None:
                    drawn.append((a, box))
            # An actor more than half hidden behind later ones is not in the truth (nobody can name them).
            truth = [(a, b) for i, (a, b) in enumerate(drawn) if _visible(b, [c for _, c in drawn[i + 1 :]], self.width, self.height) >= 0.5]
            yield img, truth


def _visible(box: tuple[float, float, float, float], above: list[tuple[float, float, float, float]], w: int, h: int) -> float:
    """Share of `box` inside the frame and not covered by the boxes drawn above it (a photo half out of the frame
    is half visible)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    area = max(1, (x2 - x1) * (y2 - y1))
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    mask = np.ones((y2 - y1, x2 - x1), bool)
    for a1, b1, a2, b2 in above:
        mask[max(0, int(b1) - y1) : max(0, int(b2) - y1), max(0, int(a1) - x1) : max(0, int(a2) - x1)] = False
    return float(mask.sum()) / area


def _paste(img: np.ndarray, photo: np.ndarray, cx: float, cy: float, side: float) -> tuple[float, float, float, float] | None:
    h, w = img.shape[:2]
    s = max(2, int(round(side)))
    ph = max(2, int(round(s * photo.shape[0] / photo.shape[1])))
    x0, y0 = int(round(cx - s / 2)), int(round(cy - ph / 2))
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + s), min(h, y0 + ph)
    if xb <= xa or yb <= ya:
        return None
    resized = cv2.resize(photo, (s, ph), interpolation=cv2.INTER_AREA if s < photo.shape[1] else cv2.INTER_LINEAR)
    img[ya:yb, xa:xb] = resized[ya - y0 : yb - y0, xa - x0 : xb - x0]
    return (float(x0), float(y0), float(x0 + s), float(y0 + ph))


def write_scene(scene: Scene, path: str | os.PathLike[str]) -> list[list[tuple[str | None, tuple[float, float, float, float]]]]:
    """Render the scene to an H.264 MP4 at `path`; returns each frame's truth."""
    return [[(scene.actors[a].name, box) for a, box in truth] for truth in write_scene_by_actor(scene, path)]


def write_scene_by_actor(scene: Scene, path: str | os.PathLike[str]) -> list[list[tuple[int, tuple[float, float, float, float]]]]:
    """Render the scene to an H.264 MP4 at `path`; returns each frame's truth as (actor index, box)."""
    from faceprint.video.writers import AnnotatedVideoWriter

    truths = []
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with AnnotatedVideoWriter(path, scene.fps, scene.width, scene.height, crf=18) as out:
        for img, truth in scene.frames_by_actor():
            out.write(img)
            truths.append(truth)
    return truths
