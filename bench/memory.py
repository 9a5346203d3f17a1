"""Peak memory of `faceprint identify` against the size and the number of photos.

    python bench/memory.py                       # 6, 12 and 24 MP; 1, 3 and 6 photos
    python bench/memory.py --mp 24 --photos 1 6 --annotate

Each row runs `faceprint identify` in a fresh process on synthetic phone-size photos (real LFW faces, scaled up
and pasted onto a textured background, saved as JPEG) against a small gallery, and reads the peak resident set
size of that process from the kernel (wait4). The goal (issue 29): under 500 MB on a 24 MP photo, and flat in the
number of photos. The table prints the load average, since a loaded machine changes timings but not memory.
Every row is held to `--max-mb` (default 500, whatever the number of photos): the script exits 1 when a row is
above it, so the bound is checked each time the benchmark runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = {6: (3000, 2000), 12: (4000, 3000), 24: (6000, 4000), 48: (8480, 5660)}
"""Megapixels -> (width, height), the shapes of common phone and camera sensors."""


def make_photo(faces: list[Path], size: tuple[int, int], seed: int, out: Path) -> None:
    """A `size` JPEG holding the given LFW photos, each scaled to a fifth of the height, on a noisy background."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = rng.integers(60, 200, (h // 50 + 1, w // 50 + 1, 3), dtype=np.uint8)
    canvas = Image.fromarray(small).resize((w, h), Image.BILINEAR)
    side = h // 5
    for i, face in enumerate(faces):
        tile = Image.open(face).convert("RGB").resize((side, side), Image.LANCZOS)
        x = (i + 1) * w // (len(faces) + 1) - side // 2
        canvas.paste(tile, (x, h // 2 - side // 2))
    canvas.save(out, quality=92)


def peak_rss_mb(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of one command, measured by the kernel for that process alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0,):
        sys.stderr.write(err)
    return usage.ru_maxrss / 1024, time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mp", type=int, nargs="+", default=[6, 12, 24], choices=sorted(SIZES))
    ap.add_argument("--photos", type=int, nargs="+", default=[1, 3, 6])
    ap.add_argument("--annotate", action="store_true", help="also write annotated copies (keeps decoded photos)")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    ap.add_argument("--max-mb", type=float, default=500.0, help="the bound every row's peak RSS is held to (issue 29)")
    args = ap.parse_args()
    lfw = args.shared / "data" / "lfw-subset"
    people = sorted(p for p in lfw.iterdir() if p.is_dir())[:4]
    exe = [sys.executable, "-m", "faceprint.cli"]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gallery = root / "g.db"
        enroll = [*exe, "enroll", str(lfw), "--gallery", str(gallery), "--largest"]
        subprocess.run(enroll, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        faces = [sorted(p.glob("*.jpg"))[-1] for p in people]
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; python {sys.version.split()[0]}")
        print(f"{'photos':>6} {'MP':>4} {'size':>11} {'annotate':>8} {'peak RSS MB':>11} {'seconds':>7} {'exit':>4} "
              f"{f'<= {args.max_mb:.0f} MB':>9}")
        over = []
        for mp in args.mp:
            for n in args.photos:
                folder = root / f"p{mp}_{n}"
                folder.mkdir()
                for i in range(n):
                    make_photo(faces[: 1 + i % len(faces)], SIZES[mp], i, folder / f"photo{i}.jpg")
                cmd = [*exe, "identify", str(folder), "--gallery", str(gallery), "--csv"]
                if args.annotate:
                    cmd += ["--annotate", str(root / f"ann{mp}_{n}")]
                rss, secs, code = peak_rss_mb(cmd, env)
                w, h = SIZES[mp]
                within = rss <= args.max_mb
                if not within:
                    over.append(f"{n} x {mp} MP: {rss:.0f} MB")
                print(f"{n:>6} {mp:>4} {f'{w}x{h}':>11} {'yes' if args.annotate else 'no':>8} {rss:>11.0f} {secs:>7.1f} {code:>4} "
                      f"{'yes' if within else 'NO':>9}", flush=True)
    if over:
        sys.exit(f"above the bound of {args.max_mb:.0f} MB: " + "; ".join(over))


if __name__ == "__main__":
    main()
