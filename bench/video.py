"""faceprint video vs face_recognition's per-frame loop on the same clip: frames/s, recognitions per frame, and the
share of frames whose name is right.

    nice -n 10 python bench/video.py                        # 640x480 and 1280x720, 8 s clips
    python bench/video.py --sizes 640x480 --seconds 4      # a quick run

The clip (faceprint.video.scenes) is built from LFW photos, so every frame's truth is known: George W Bush pans and
grows, Tony Blair and Colin Powell cross (Powell passes in front), Donald Rumsfeld leaves and comes back, and Hugo
Chavez, who is not enrolled, stands at the side (his right answer is UNKNOWN). Four people are enrolled from their
photos 1-5; the clip shows other photos of them.

faceprint: `faceprint.video.VideoRecognizer` as `faceprint video` runs it (MTCNN on a copy 640 px wide every
--detect-every frames, ByteTrack between, dlib-resnet-v1 embeddings of each track's best faces, UNKNOWN tracks
rechecked every 2 s); timed with and without writing the annotated H.264 video. face_recognition: its webcam
example's loop (facerec_from_webcam_faster.py) on every frame: resize to 1/4, face_locations (HOG), face_encodings,
nearest known encoding within its default tolerance 0.6. Both decode the same file with PyAV; frames/s counts
decoding too. Model loading and the first frame are not timed. CPU ms per frame is the process's CPU time (all
its threads), which other programs on the machine disturb less than frames/s.

A frame's name is right for a person on screen (at least half visible) when, of the boxes whose centre lies inside
their photo, the nearest to its centre carries their name (UNKNOWN for the stranger); a faceprint track not yet
recognised counts as wrong.
face_recognition installs without its dlib source dependency: .venv/bin/pip install --no-deps face_recognition
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import faceprint
from faceprint.video import VideoRecognizer, open_source
from faceprint.video.scenes import Actor, Scene, face_photo, write_scene
from faceprint.video.writers import AnnotatedVideoWriter, annotate_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import FR_TOLERANCE, import_face_recognition  # noqa: E402

ENROLLED = ["George_W_Bush", "Tony_Blair", "Colin_Powell", "Donald_Rumsfeld"]
STRANGER = "Hugo_Chavez"

Truth = list[tuple[str | None, tuple[float, float, float, float]]]


def build_scene(lfw: Path, width: int, height: int, seconds: float, fps: float) -> Scene:
    """The bench clip, laid out in fractions of the frame so both sizes show the same motion."""

    def ph(name: str, i: int) -> np.ndarray:
        return face_photo(lfw / name / f"{name}_{i:04d}.jpg")

    W, H, T = width, height, seconds
    s = H / 240  # face photos ~90-130 px at 240 lines
    return Scene(width, height, fps, seconds, [
        Actor("George_W_Bush", ph("George_W_Bush", 7), [(0, 0.12 * W, 0.25 * H, 70 * s), (T, 0.5 * W, 0.3 * H, 120 * s)]),
        Actor("Tony_Blair", ph("Tony_Blair", 7), [(0.1 * T, 0.1 * W, 0.62 * H, 90 * s), (0.9 * T, 0.85 * W, 0.62 * H, 90 * s)]),
        Actor("Colin_Powell", ph("Colin_Powell", 7), [(0.1 * T, 0.85 * W, 0.7 * H, 90 * s), (0.9 * T, 0.1 * W, 0.7 * H, 90 * s)]),
        Actor("Donald_Rumsfeld", ph("Donald_Rumsfeld", 7), [(0, 0.82 * W, 0.22 * H, 90 * s), (0.35 * T, 0.8 * W, 0.22 * H, 90 * s)]),
        Actor("Donald_Rumsfeld", ph("Donald_Rumsfeld", 8), [(0.6 * T, 0.8 * W, 0.22 * H, 90 * s), (T, 0.78 * W, 0.22 * H, 90 * s)]),
        Actor(None, ph(STRANGER, 1), [(0.2 * T, 0.35 * W, 0.22 * H, 80 * s), (0.8 * T, 0.3 * W, 0.22 * H, 80 * s)]),
    ])


def right(truth: Truth, labelled: list[tuple[tuple[float, float, float, float], str | None]]) -> tuple[int, int]:
    """(people on screen named right, people on screen) for one frame; label None means UNKNOWN. A person is named
    right when, of the boxes whose centre lies inside their photo, the nearest to its centre carries their name."""
    ok = 0
    for name, (x1, y1, x2, y2) in truth:
        inside = [((a + c) / 2 - (x1 + x2) / 2) ** 2 + ((b + d) / 2 - (y1 + y2) / 2) ** 2 for (a, b, c, d), _ in labelled]
        near = [i for i, ((a, b, c, d), _) in enumerate(labelled) if x1 <= (a + c) / 2 <= x2 and y1 <= (b + d) / 2 <= y2]
        ok += bool(near) and labelled[min(near, key=inside.__getitem__)][1] == name
    return ok, len(truth)


def run_faceprint(path: Path, truths: list[Truth], g: faceprint.Gallery, detect_every: int, annotate: Path | None,
                  **options: object) -> dict[str, float]:
    with open_source(path) as src:
        rec = VideoRecognizer(g, src.fps, detect_every=detect_every, **options)  # type: ignore[arg-type]
        frames = iter(src)
        first = next(frames)  # warm-up: the networks' first run is slow
        results = [rec.process(first)]
        writer = AnnotatedVideoWriter(annotate, src.rate, src.width, src.height) if annotate else None
        if writer:
            writer.write(annotate_frame(results[0]))
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
    ok = total = 0
    for r, truth in zip(results, truths):
        lab = [(s.box, s.track.person if s.track.person or s.track.unknown else "?") for s in r.shown]
        a, b = right(truth, lab)
        ok, total = ok + a, total + b
    return {"fps": (len(results) - 1) / dt, "cpu_ms": 1000 * cpu / (len(results) - 1), "recog": rec.recognitions / len(results),
            "right": ok / max(total, 1)}


def run_face_recognition(fr, path: Path, truths: list[Truth], known: np.ndarray, names: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import cv2

    encodings = 0
    ok = total = 0
    with open_source(path) as src:
        t = None
        n = 0
        for frame, truth in zip(src, truths):
            if n == 1:
                t, cpu = time.perf_counter(), time.process_time()  # the first frame is the warm-up, as for faceprint
            n += 1
            small = cv2.resize(frame.image, (0, 0), fx=0.25, fy=0.25)
            locs = fr.face_locations(small)
            encs = fr.face_encodings(small, locs)
            encodings += len(encs)
            lab = []
            for (top, rgt, bot, lft), e in zip(locs, encs):
                d = fr.face_distance(known, e)
                i = int(np.argmin(d))
                lab.append(((lft * 4, top * 4, rgt * 4, bot * 4), names[i] if d[i] <= FR_TOLERANCE else None))
            a, b = right(truth, lab)
            ok, total = ok + a, total + b
        dt, cpu = time.perf_counter() - t, time.process_time() - cpu  # type: ignore[operator]
    return {"fps": (n - 1) / dt, "cpu_ms": 1000 * cpu / (n - 1), "recog": encodings / n, "right": ok / max(total, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared")))
    p.add_argument("--sizes", default="640x480,1280x720")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--detect-every", type=int, default=5)
    p.add_argument("--skip-face-recognition", action="store_true")
    args = p.parse_args()
    lfw = args.shared / "data" / "lfw-subset"
    fr = None if args.skip_face_recognition else import_face_recognition()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        g = faceprint.Gallery(Path(tmp) / "g.sqlite")
        known, names = [], []
        for name in ENROLLED:
            photos = [lfw / name / f"{name}_{i:04d}.jpg" for i in range(1, 6)]
            g.enroll(name, photos)
            if fr is not None:
                for ph in photos:
                    img = fr.load_image_file(str(ph))
                    enc = fr.face_encodings(img)
                    if enc:
                        known.append(enc[0])
                        names.append(name)
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            clip = Path(tmp) / f"clip_{size}.mp4"
            truths = write_scene(build_scene(lfw, w, h, args.seconds, args.fps), clip)
            r = run_faceprint(clip, truths, g, args.detect_every, None)
            rows.append((size, f"faceprint (detect every {args.detect_every})", r))
            r = run_faceprint(clip, truths, g, args.detect_every, Path(tmp) / "annotated.mp4")
            rows.append((size, "  + writing the annotated H.264 video", r))
            if fr is not None:
                r = run_face_recognition(fr, clip, truths, np.array(known), names)
                rows.append((size, "face_recognition (every frame, 1/4 size)", r))
        g.close()
    load = os.getloadavg()[0]
    print(f"{args.seconds:g} s clips at {args.fps:g} frames/s, {len(truths)} frames; {os.cpu_count()} CPU cores, load average "
          f"{load:.1f} at the end; faceprint {faceprint.__version__}")
    print("| size | pipeline | frames/s | CPU ms per frame | recognitions per frame | frames named right |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for size, name, r in rows:
        print(f"| {size} | {name} | {r['fps']:.1f} | {r['cpu_ms']:.1f} | {r['recog']:.3f} | {100 * r['right']:.1f}% |")


if __name__ == "__main__":
    main()
