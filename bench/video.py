"""faceprint video on a grid of synthetic clips: appearances tracked, named right, identity switches, frames/s; and
face_recognition's frame loop on the same clips as the reference.

    nice -n 10 python bench/video.py            # the whole grid at 1280x720, and the speed clip at both sizes
    python bench/video.py --quick               # a few minutes: fewer cells, shorter clips, face_recognition only
                                                # on the speed clip

Clips (faceprint.video.scenes) are built from LFW photos of ../shared, so every frame's truth is known. Four people
are enrolled from their photos 1-5; clips show their photos 7-8, and Hugo Chavez, who is not enrolled (his right
answer is UNKNOWN). "Face" is the face's width in frame pixels (the pasted photo is 1/0.69 of it).

Grid (1280x720 at 25 frames/s; each axis varied around walking at 10 px a frame, 100-px faces, one person):
  speed   0-30 px a frame, people walking across the frame (fast ones cross it in under two seconds);
  face    40-250 px;
  people  1-4 walking in rows, alternate directions, the fourth a stranger;
  corner  the hardest corners: small and fast, large and fast, four small people;
  cross   two people walking into each other on one line at 5-30 px a frame (the later one passes in front);
  return  a person stands, leaves (gone for 0.5 s or 2 s) and comes back a little aside;
  switch  a person stands, the frame is empty for 0-0.5 s, someone else stands at the same spot (issue 29).

Metrics, per cell and in total:
  tracked   appearances (one person's continuous time on screen) matched to a track on at least half their frames;
  named     person-frames whose matched track carries their name (UNKNOWN for the stranger; a missed frame or a track
            not yet recognised counts as wrong), and appearances named right on most of their frames;
  IDSW      identity switches from py-motmetrics, per 100 track-seconds (the seconds tracks are shown). The truth's
            ids are people: two crossing people trading tracks count, and so does a person back within keep_lost_s
            (1 s) whose face starts a new track; a person away for longer gets a new id (a new track is right);
  fps       frames/s of decoding + recognition (model loading and the first frame not timed), CPU ms a frame;
  rec/f     faces embedded per frame.
A track matches a person on a frame when its box's centre lies within half the photo's side of the photo's centre.

face_recognition: its webcam example's loop (facerec_from_webcam_faster.py) on every frame: resize to 1/4,
face_locations (HOG), face_encodings, nearest known encoding within its default tolerance 0.6; its boxes carry no
identity over frames, so only "named" is comparable (IDSW and tracked are left out for it).
face_recognition installs without its dlib source dependency: .venv/bin/pip install --no-deps face_recognition
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import faceprint
from faceprint.video import VideoRecognizer, open_source
from faceprint.video.scenes import Actor, Scene, face_photo, write_scene_by_actor
from faceprint.video.writers import AnnotatedVideoWriter, annotate_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import FR_TOLERANCE, import_face_recognition  # noqa: E402

ENROLLED = ["George_W_Bush", "Tony_Blair", "Colin_Powell", "Donald_Rumsfeld"]
STRANGER = "Hugo_Chavez"
WALKERS = ["George_W_Bush", "Tony_Blair", "Colin_Powell", STRANGER]
FACE_SHARE = 0.69
"""A detected face's width as a share of the pasted photo's side (face_photo's crop of an LFW photo)."""
FPS = 25.0
KEEP_LOST_S = 1.0
"""VideoRecognizer's default keep_lost_s: a person away for longer is expected to come back as a new track."""

Box = tuple[float, float, float, float]
Truth = list[tuple[int, Box]]


@dataclass(frozen=True)
class Cell:
    group: str
    label: str
    scene: Scene


class Photos:
    def __init__(self, lfw: Path) -> None:
        self.lfw = lfw
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, name: str, i: int = 7) -> np.ndarray:
        if (name, i) not in self._cache:
            self._cache[(name, i)] = face_photo(self.lfw / name / f"{name}_{i:04d}.jpg")
        return self._cache[(name, i)]


def _truth_name(name: str) -> str | None:
    return None if name == STRANGER else name


def walk(ph: Photos, w: int, h: int, seconds: float, speed: float, face: float, people: int) -> Scene:
    """`people` walking along rows, alternate directions, each path centred on the frame (fast ones enter and leave)."""
    side = face / FACE_SHARE
    actors = []
    for i in range(people):
        y = h * (i + 1) / (people + 1)
        half = speed * FPS * seconds / 2
        x0, x1 = w / 2 - half, w / 2 + half
        if speed == 0:
            x0 = x1 = w * (i + 1) / (people + 1)
        if i % 2:
            x0, x1 = x1, x0
        name = WALKERS[i]
        actors.append(Actor(_truth_name(name), ph(name), [(0.0, x0, y, side), (seconds, x1, y, side)]))
    return Scene(w, h, FPS, seconds, actors, seed=people)


def cross(ph: Photos, w: int, h: int, seconds: float, speed: float, face: float) -> Scene:
    """Two people on one line walking into each other; they meet mid-clip, the second passing in front."""
    side = face / FACE_SHARE
    half = speed * FPS * seconds / 2
    return Scene(w, h, FPS, seconds, [
        Actor("Tony_Blair", ph("Tony_Blair"), [(0.0, w / 2 - half, h / 2, side), (seconds, w / 2 + half, h / 2, side)]),
        Actor("Colin_Powell", ph("Colin_Powell"), [(0.0, w / 2 + half, h / 2 + 0.2 * side, side),
                                                   (seconds, w / 2 - half, h / 2 + 0.2 * side, side)]),
    ])


def leave_and_return(ph: Photos, w: int, h: int, hold: float, gap: float, face: float) -> Scene:
    """Donald Rumsfeld stands for `hold` s, is gone for `gap` s, comes back 1.5 faces to the right (another photo)."""
    side = face / FACE_SHARE
    t2 = hold + gap
    return Scene(w, h, FPS, t2 + hold, [
        Actor("Donald_Rumsfeld", ph("Donald_Rumsfeld", 7), [(0.0, w * 0.4, h / 2, side), (hold - 1e-6, w * 0.4 + 20, h / 2, side)]),
        Actor("Donald_Rumsfeld", ph("Donald_Rumsfeld", 8), [(t2, w * 0.4 + 1.5 * side, h / 2, side), (t2 + hold, w * 0.4 + 1.5 * side + 20, h / 2, side)]),
    ])


def switch(ph: Photos, w: int, h: int, hold: float, gap: float, face: float, first: str, second: str) -> Scene:
    """`first` stands for `hold` s, the frame is empty for `gap` s, then `second` stands at the same spot."""
    side = face / FACE_SHARE
    t2 = hold + gap
    return Scene(w, h, FPS, t2 + hold, [
        Actor(_truth_name(first), ph(first, 8), [(0.0, w / 2, h / 2, side), (hold - 1e-6, w / 2, h / 2, side)]),
        Actor(_truth_name(second), ph(second, 8 if second != STRANGER else 1), [(t2, w / 2, h / 2, side), (t2 + hold, w / 2, h / 2, side)]),
    ])


def grid(ph: Photos, w: int, h: int, quick: bool) -> list[Cell]:
    T = 3.0 if quick else 4.0
    speeds = [0, 10, 30] if quick else [0, 5, 10, 20, 30]
    faces = [40, 100, 250] if quick else [40, 60, 100, 160, 250]
    cells = [Cell("speed", f"{v} px/frame", walk(ph, w, h, T, v, 100, 1)) for v in speeds]
    cells += [Cell("face", f"{f} px", walk(ph, w, h, T, 10, f, 1)) for f in faces if f != 100]
    cells += [Cell("people", f"{n} people", walk(ph, w, h, T, 10, 100, n)) for n in ([2, 4] if quick else [2, 3, 4])]
    cells += [Cell("corner", "40 px at 30 px/frame", walk(ph, w, h, T, 30, 40, 1)),
              Cell("corner", "250 px at 30 px/frame", walk(ph, w, h, T, 30, 250, 1)),
              Cell("corner", "4 people, 60 px, 20 px/frame", walk(ph, w, h, T, 20, 60, 4))][: 1 if quick else 3]
    cells += [Cell("cross", f"{v} px/frame", cross(ph, w, h, T, v, 100)) for v in ([15] if quick else [5, 15, 30])]
    cells += [Cell("return", f"gone {g:g} s", leave_and_return(ph, w, h, 1.5, g, 100)) for g in ([0.5] if quick else [0.5, 2.0])]
    pairs = [("Tony_Blair", STRANGER), (STRANGER, "Colin_Powell"), ("Tony_Blair", "Colin_Powell")]
    gaps = [0.0, 0.5]
    cells += [Cell("switch", f"{a.split('_')[-1]}->{b.split('_')[-1]}, gap {g:g} s", switch(ph, w, h, 1.5, g, 100, a, b))
              for a, b in (pairs[:2] if quick else pairs) for g in gaps]
    return cells


def mixed_scene(ph: Photos, w: int, h: int, seconds: float) -> Scene:
    """The speed clip (laid out in fractions of the frame so both sizes show the same motion): Bush pans and grows,
    Blair and Powell cross, Rumsfeld leaves and comes back, the stranger stands at the side."""
    W, H, T = w, h, seconds
    s = H / 240
    return Scene(w, h, FPS, seconds, [
        Actor("George_W_Bush", ph("George_W_Bush", 7), [(0, 0.12 * W, 0.25 * H, 70 * s), (T, 0.5 * W, 0.3 * H, 120 * s)]),
        Actor("Tony_Blair", ph("Tony_Blair", 7), [(0.1 * T, 0.1 * W, 0.62 * H, 90 * s), (0.9 * T, 0.85 * W, 0.62 * H, 90 * s)]),
        Actor("Colin_Powell", ph("Colin_Powell", 7), [(0.1 * T, 0.85 * W, 0.7 * H, 90 * s), (0.9 * T, 0.1 * W, 0.7 * H, 90 * s)]),
        Actor("Donald_Rumsfeld", ph("Donald_Rumsfeld", 7), [(0, 0.82 * W, 0.22 * H, 90 * s), (0.35 * T, 0.8 * W, 0.22 * H, 90 * s)]),
        Actor("Donald_Rumsfeld", ph("Donald_Rumsfeld", 8), [(0.6 * T, 0.8 * W, 0.22 * H, 90 * s), (T, 0.78 * W, 0.22 * H, 90 * s)]),
        Actor(None, ph(STRANGER, 1), [(0.2 * T, 0.35 * W, 0.22 * H, 80 * s), (0.8 * T, 0.3 * W, 0.22 * H, 80 * s)]),
    ])


# -- scoring ---------------------------------------------------------------------------------------------------

Shown = list[tuple[int | None, Box, str | None, bool]]
"""A frame's boxes: (track id or None, box, person or None, checked)."""


def score(scene: Scene, truths: list[Truth], shown: list[Shown]) -> dict[str, float]:
    """Appearances tracked and named, person-frames named right, identity switches (py-motmetrics)."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=False)
    # motmetrics' ids are numbers: one per person (a person back within KEEP_LOST_S keeps theirs: their track should
    # continue), one per stranger photo; a person away for longer comes back under a new id (a new track is right)
    keys = {a: (actor.name or f"stranger:{id(actor.photo)}") for a, actor in enumerate(scene.actors)}
    base = {a: sorted(set(keys.values())).index(k) for a, k in keys.items()}
    last_seen: dict[int, int] = {}
    comeback: dict[int, int] = defaultdict(int)
    frame_ids: list[list[int]] = []
    for i, truth in enumerate(truths):
        ids = []
        for a, _ in truth:
            p = base[a]
            if p in last_seen and i - last_seen[p] > KEEP_LOST_S * scene.fps:
                comeback[p] += 1
            last_seen[p] = i
            ids.append(p + 1000 * comeback[p])
        frame_ids.append(ids)
    seen: dict[int, int] = defaultdict(int)  # appearance -> frames on screen
    matched: dict[int, int] = defaultdict(int)  # appearance -> frames matched to a track
    named_ok: dict[int, int] = defaultdict(int)
    frames_ok = frames_all = 0
    track_frames = 0
    hid_lists = []
    for i, (truth, boxes) in enumerate(zip(truths, shown)):
        dist = np.full((len(truth), len(boxes)), np.nan)
        for r, (_, (x1, y1, x2, y2)) in enumerate(truth):
            side = max(x2 - x1, 1.0)
            for c, (_, (a, b, cc, d), _, _) in enumerate(boxes):
                e = np.hypot((a + cc) / 2 - (x1 + x2) / 2, (b + d) / 2 - (y1 + y2) / 2) / side
                if e <= 0.5:
                    dist[r, c] = e
        hids = [tid if tid is not None else -(c + 1) - 1000 * i for c, (tid, _, _, _) in enumerate(boxes)]
        hid_lists.append(hids)
        acc.update(frame_ids[i], hids, dist, frameid=i)
        track_frames += sum(1 for tid, *_ in boxes if tid is not None)
    events = acc.mot_events
    events = events[events.Type.isin(["MATCH", "SWITCH"])]
    pairs: dict[int, dict[int, int]] = defaultdict(dict)  # the assignment motmetrics made on each frame
    for (frame, _), oid, hid in zip(events.index, events.OId, events.HId):
        pairs[int(frame)][int(oid)] = int(hid)
    for i, (truth, boxes) in enumerate(zip(truths, shown)):
        for (a, _), oid in zip(truth, frame_ids[i]):
            seen[a] += 1
            frames_all += 1
            hid = pairs[i].get(oid)
            if hid is None:
                continue
            matched[a] += 1
            _, _, name, checked = boxes[hid_lists[i].index(hid)]
            if checked and name == scene.actors[a].name:
                named_ok[a] += 1
                frames_ok += 1
    summary = mm.metrics.create().compute(acc, metrics=["num_switches"], name="x")
    apps = list(seen)
    return {
        "appearances": len(apps),
        "tracked": sum(matched[a] >= 0.5 * seen[a] for a in apps),
        "named_apps": sum(named_ok[a] > 0.5 * seen[a] for a in apps),
        "frames_ok": frames_ok,
        "frames_all": frames_all,
        "switches": int(summary["num_switches"].iloc[0]),
        "track_s": track_frames / scene.fps,
    }


def run_faceprint(path: Path, scene: Scene, truths: list[Truth], g: faceprint.Gallery, annotate: Path | None = None,
                  **options: object) -> dict[str, float]:
    shown: list[Shown] = []
    with open_source(path) as src:
        rec = VideoRecognizer(g, src.fps, **options)  # type: ignore[arg-type]
        frames = iter(src)
        first = rec.process(next(frames))  # warm-up: the networks' first run is slow (not timed)
        writer = AnnotatedVideoWriter(annotate, src.rate, src.width, src.height) if annotate else None
        results = [first]
        t, cpu = time.perf_counter(), time.process_time()
        for frame in frames:
            r = rec.process(frame)
            if writer:
                writer.write(annotate_frame(r))
            results.append(r)
        if writer:
            writer.close()
        dt, cpu = time.perf_counter() - t, time.process_time() - cpu
        rec.finish()
    for r in results:
        shown.append([(s.track.track_id, s.box, s.track.person, s.track.checked) for s in r.shown])
    n = len(results) - 1
    return {**score(scene, truths, shown), "frames": n, "seconds": dt, "cpu_s": cpu, "recognitions": rec.recognitions,
            "all_frames": len(results), "detections": rec.detections}


def run_face_recognition(fr, path: Path, scene: Scene, truths: list[Truth], known: np.ndarray,  # type: ignore[no-untyped-def]
                         names: list[str]) -> dict[str, float]:
    import cv2

    encodings = 0
    shown: list[Shown] = []
    with open_source(path) as src:
        t = cpu = 0.0
        n = 0
        for frame in src:
            if n == 1:
                t, cpu = time.perf_counter(), time.process_time()  # the first frame is the warm-up, as for faceprint
            n += 1
            small = cv2.resize(frame.image, (0, 0), fx=0.25, fy=0.25)
            locs = fr.face_locations(small)
            encs = fr.face_encodings(small, locs)
            encodings += len(encs)
            lab: Shown = []
            for (top, rgt, bot, lft), e in zip(locs, encs):
                d = fr.face_distance(known, e)
                i = int(np.argmin(d))
                lab.append((None, (lft * 4, top * 4, rgt * 4, bot * 4), names[i] if d[i] <= FR_TOLERANCE else None, True))
            shown.append(lab)
        dt, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {**score(scene, truths, shown), "frames": n - 1, "seconds": dt, "cpu_s": cpu, "recognitions": encodings,
            "all_frames": n, "detections": n}


# -- output ----------------------------------------------------------------------------------------------------


def row(group: str, label: str, r: dict[str, float], ids: bool = True) -> str:
    sw = f"{r['switches']}" if ids else "-"
    per100 = f"{100 * r['switches'] / max(r['track_s'], 1e-9):.2f}" if ids else "-"
    tracked = f"{r['tracked']}/{r['appearances']}" if ids else "-"
    return (f"| {group} | {label} | {tracked} | {r['named_apps']}/{r['appearances']} | "
            f"{100 * r['frames_ok'] / max(r['frames_all'], 1):.1f}% | {sw} | {per100} | {r['frames'] / r['seconds']:.1f} | "
            f"{1000 * r['cpu_s'] / r['frames']:.1f} | {r['recognitions'] / r['all_frames']:.3f} | "
            f"{r['detections'] / r['all_frames']:.2f} |")


HEADER = ("| group | cell | appearances tracked | appearances named right | person-frames named right | IDSW | "
          "IDSW per 100 track-s | frames/s | CPU ms/frame | recognitions/frame | detections/frame |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def total(rs: list[dict[str, float]]) -> dict[str, float]:
    keys = ["appearances", "tracked", "named_apps", "frames_ok", "frames_all", "switches", "track_s", "frames",
            "seconds", "cpu_s", "recognitions", "all_frames", "detections"]
    return {k: sum(r[k] for r in rs) for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared")))
    p.add_argument("--quick", action="store_true", help="fewer cells and shorter clips; face_recognition only on the speed clip")
    p.add_argument("--size", default="1280x720", help="the grid's frame size")
    p.add_argument("--speed-sizes", default="640x480,1280x720", help="frame sizes of the speed clip")
    p.add_argument("--detect-every", type=int, default=None, help="faceprint's --detect-every (default: the library's)")
    p.add_argument("--skip-face-recognition", action="store_true")
    p.add_argument("--only", default="", help="run only the grid groups named (comma-separated)")
    args = p.parse_args()
    lfw = args.shared / "data" / "lfw-subset"
    ph = Photos(lfw)
    fr = None if args.skip_face_recognition else import_face_recognition()
    opts: dict[str, object] = {} if args.detect_every is None else {"detect_every": args.detect_every}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        g = faceprint.Gallery(Path(tmp) / "g.sqlite")
        known, names = [], []
        for name in ENROLLED:
            photos = [lfw / name / f"{name}_{i:04d}.jpg" for i in range(1, 6)]
            g.enroll(name, photos)
            if fr is not None:
                for path in photos:
                    enc = fr.face_encodings(fr.load_image_file(str(path)))
                    if enc:
                        known.append(enc[0])
                        names.append(name)
        w, h = (int(v) for v in args.size.split("x"))
        cells = grid(ph, w, h, args.quick)
        if args.only:
            cells = [c for c in cells if c.group in args.only.split(",")]
        lines, ours, theirs = [], [], []
        for c in cells:
            clip = Path(tmp) / "cell.mp4"
            truths = write_scene_by_actor(c.scene, clip)
            r = run_faceprint(clip, c.scene, truths, g, **opts)
            ours.append(r)
            lines.append(row(c.group, c.label, r))
            print(lines[-1], flush=True)
            if fr is not None and not args.quick:
                r = run_face_recognition(fr, clip, c.scene, truths, np.array(known), names)
                theirs.append((c, r))
            loads.append(os.getloadavg()[0])
        speed_rows = []
        for size in args.speed_sizes.split(","):
            sw, sh = (int(v) for v in size.split("x"))
            scene = mixed_scene(ph, sw, sh, 4.0 if args.quick else 8.0)
            clip = Path(tmp) / f"speed_{size}.mp4"
            truths = write_scene_by_actor(scene, clip)
            speed_rows.append((size, "faceprint (defaults)", run_faceprint(clip, scene, truths, g, **opts), True))
            speed_rows.append((size, "+ writing the annotated H.264 video",
                               run_faceprint(clip, scene, truths, g, Path(tmp) / "annotated.mp4", **opts), True))
            if fr is not None:
                speed_rows.append((size, "face_recognition (every frame, 1/4 size)",
                                   run_face_recognition(fr, clip, scene, truths, np.array(known), names), False))
            loads.append(os.getloadavg()[0])
        g.close()
    print()
    print(f"faceprint {faceprint.__version__}, grid {args.size} at {FPS:g} frames/s{' (--quick)' if args.quick else ''}; "
          f"{os.cpu_count()} CPU cores, load average {min(loads):.1f}-{max(loads):.1f} while measuring "
          "(frames/s is what the other jobs left; CPU ms a frame is less disturbed)")
    print(HEADER)
    for line in lines:
        print(line)
    print(row("**all**", f"faceprint, {len(ours)} cells", total(ours)))
    if theirs:
        print(row("**all**", f"face_recognition, {len(theirs)} cells", total([r for _, r in theirs]), ids=False))
        print(row("**same cells**", "faceprint", total([ours[cells.index(c)] for c, _ in theirs])))
    print()
    print("Speed clip: Bush pans and grows, Blair and Powell cross, Rumsfeld leaves and comes back, a stranger stands")
    print(HEADER.replace("| group | cell |", "| size | pipeline |"))
    for size, name, r, ids in speed_rows:
        print(row(size, name, r, ids))


if __name__ == "__main__":
    main()
