"""Hostile-input campaign: mutated real photos fed to the API (load_image, detect, embed, identify) and to the CLI.

    python bench/fuzz_images.py [--cases 10000] [--seed 0] [--cli-every 10] [--timeout 10] [--shared ../shared]

Each case is one file built from a real photo of ../shared (LFW, Avengers, ORL) by one mutation, drawn with the
seed: truncation, byte flips, header dimensions 0 / 1 / 65535 / 2^31 (PNG, JPEG, GIF, BMP, PNM), every PIL mode
(CMYK, 16-bit, float, palette, ...), EXIF orientation 0-20, images of 1x1 to 8x8 pixels, 4000x1 strips, GIF / BMP /
TIFF / WebP / ICO / PPM re-encodings (also under the wrong suffix), random noise (as bytes and as pixels), and
PDFs, text, HTML and empty files named .jpg. Every case goes through

* the API: `load_image` (path and bytes), `image_size`, and `identify_images` (load, detect, embed, identify
  against a small gallery of real faces);
* every `--cli-every`-th case also the CLI, in process: `faceprint detect FILE --json` (exit 0 or 2).

A case passes when nothing but a FaceprintError is raised (the CLI: exit 0 or 2, one `error:` line, no traceback)
and it finishes within `--timeout` seconds. The table counts, per mutation, the cases, the images that loaded,
those with a face, clean errors, uncaught exceptions and hangs; then the peak memory of the process (ru_maxrss).
Exit status 1 when any case failed. `tests/test_fuzz_images.py` runs a seeded 300-case subset.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.errors import FaceprintError

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff")
HUGE = (0, 1, 65535, 2**31 - 1, 2**31, 2**32 - 1)
PIL_MODES = ("1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "LA", "PA", "RGBX", "RGBa",
             "La", "I;16", "I;16B", "I;16L")
SAVE_AS = {".jpg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF", ".webp": "WEBP", ".tif": "TIFF", ".ppm": "PPM", ".ico": "ICO"}


@dataclass(frozen=True)
class Case:
    """One hostile file: the mutation that made it, a short description, its suffix and its bytes."""

    kind: str
    detail: str
    suffix: str
    data: bytes


class Hang(Exception):
    """A case ran past the timeout."""


# -- mutations ------------------------------------------------------------------------------------------------


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


class Mutator:
    """Draws cases from real photos with one seeded random generator."""

    def __init__(self, photos: list[Path], seed: int) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.images = [Image.open(p).convert("RGB") for p in photos]
        self.kinds: dict[str, Callable[[], Case]] = {
            "truncate": self.truncate,
            "byte flips": self.byte_flips,
            "header dims": self.header_dims,
            "PIL mode": self.pil_mode,
            "16-bit": self.sixteen_bit,
            "EXIF orientation": self.exif_orientation,
            "tiny": self.tiny,
            "strip": self.strip,
            "format": self.other_format,
            "noise": self.noise,
            "not an image": self.not_an_image,
        }

    def cases(self, n: int) -> Iterator[Case]:
        names = list(self.kinds)
        for i in range(n):
            yield self.kinds[names[i % len(names)]]()

    def photo(self) -> Image.Image:
        return self.rng.choice(self.images)

    def encoded(self) -> tuple[str, bytes]:
        suffix = self.rng.choice(list(SAVE_AS))
        im = self.photo()
        return suffix, _encode(im.convert("P") if suffix == ".gif" else im, SAVE_AS[suffix])

    def truncate(self) -> Case:
        suffix, data = self.encoded()
        cut = self.rng.randrange(0, len(data))
        return Case("truncate", f"{suffix} cut at {cut}/{len(data)}", suffix, data[:cut])

    def byte_flips(self) -> Case:
        suffix, data = self.encoded()
        buf = bytearray(data)
        k = self.rng.choice((1, 2, 5, 20, 100))
        head = self.rng.random() < 0.5  # half the flips hit the first 64 bytes, where the headers are
        for _ in range(k):
            i = self.rng.randrange(0, min(64, len(buf)) if head else len(buf))
            buf[i] = self.rng.randrange(256)
        return Case("byte flips", f"{suffix} {k} flips{' in the header' if head else ''}", suffix, bytes(buf))

    def header_dims(self) -> Case:
        w, h = self.rng.choice(HUGE), self.rng.choice(HUGE)
        fmt = self.rng.choice(("png", "jpeg", "gif", "bmp", "pnm"))
        im = self.photo().resize((32, 32))
        if fmt == "png":
            data = bytearray(_encode(im, "PNG"))
            data[16:24] = struct.pack(">II", w, h)  # IHDR width, height
            if self.rng.random() < 0.7:
                data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
            return Case("header dims", f"PNG {w}x{h}", ".png", bytes(data))
        if fmt == "jpeg":
            data = bytearray(_encode(im, "JPEG"))
            i = data.find(b"\xff\xc0")
            data[i + 5:i + 9] = struct.pack(">HH", h & 0xFFFF, w & 0xFFFF)
            return Case("header dims", f"JPEG {w & 0xFFFF}x{h & 0xFFFF}", ".jpg", bytes(data))
        if fmt == "gif":
            data = bytearray(_encode(im.convert("P"), "GIF"))
            data[6:10] = struct.pack("<HH", w & 0xFFFF, h & 0xFFFF)
            return Case("header dims", f"GIF {w & 0xFFFF}x{h & 0xFFFF}", ".gif", bytes(data))
        if fmt == "bmp":
            data = bytearray(_encode(im, "BMP"))
            sh = -(h & 0x7FFFFFFF) if self.rng.random() < 0.3 else h
            data[18:26] = struct.pack("<Ii", w, max(min(sh, 2**31 - 1), -(2**31)))
            return Case("header dims", f"BMP {w}x{sh}", ".bmp", bytes(data))
        pixels = np.asarray(im).tobytes()
        return Case("header dims", f"PPM {w}x{h}", ".ppm", f"P6\n{w} {h}\n255\n".encode() + pixels)

    def pil_mode(self) -> Case:
        mode = self.rng.choice(PIL_MODES)
        im = self.photo()
        try:
            converted = im.convert(mode)
        except ValueError:
            converted = Image.new(mode, im.size)
        for suffix in self.rng.sample([".png", ".tif", ".jpg", ".bmp", ".webp", ".gif", ".ppm"], 7):
            try:
                return Case("PIL mode", f"{mode} as {suffix}", suffix, _encode(converted, SAVE_AS[suffix]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        raw = converted.tobytes()  # no encoder takes this mode: its raw bytes under an image suffix
        return Case("PIL mode", f"{mode} raw bytes", ".png", raw)

    def sixteen_bit(self) -> Case:
        gray = np.asarray(self.photo().convert("L"), dtype=np.uint16) * 257
        choice = self.rng.randrange(3)
        if choice == 0:
            return Case("16-bit", "PNG I;16", ".png", _encode(Image.fromarray(gray), "PNG"))
        if choice == 1:
            return Case("16-bit", "TIFF I;16", ".tif", _encode(Image.fromarray(gray), "TIFF"))
        h, w = gray.shape
        return Case("16-bit", "PGM maxval 65535", ".pgm", f"P5\n{w} {h}\n65535\n".encode() + gray.astype(">u2").tobytes())

    def exif_orientation(self) -> Case:
        value = self.rng.choice(list(range(0, 21)) + [65535])
        exif = Image.Exif()
        exif[0x0112] = value
        fmt = self.rng.choice((".jpg", ".png", ".webp", ".tif"))
        return Case("EXIF orientation", f"{value} in {fmt}", fmt, _encode(self.photo(), SAVE_AS[fmt], exif=exif.tobytes()))

    def tiny(self) -> Case:
        w, h = self.rng.randint(1, 8), self.rng.randint(1, 8)
        suffix = self.rng.choice([".png", ".jpg", ".bmp", ".gif", ".webp", ".tif", ".ppm"])
        im = self.photo().resize((w, h))
        return Case("tiny", f"{w}x{h} {suffix}", suffix, _encode(im.convert("P") if suffix == ".gif" else im, SAVE_AS[suffix]))

    def strip(self) -> Case:
        w, h = self.rng.choice(((4000, 1), (1, 4000), (4000, 2), (2, 4000), (4000, 12), (12, 4000), (4000, 40)))
        suffix = self.rng.choice([".png", ".jpg", ".bmp", ".webp"])
        return Case("strip", f"{w}x{h} {suffix}", suffix, _encode(self.photo().resize((w, h)), SAVE_AS[suffix]))

    def other_format(self) -> Case:
        im = self.photo()
        fmt = self.rng.choice(("GIF", "animated GIF", "BMP", "TIFF", "multi-page TIFF", "WEBP", "ICO", "PPM", "PGM", "PBM", "RGBA PNG"))
        if fmt == "animated GIF":
            frames = [im.convert("P"), im.rotate(90).convert("P")]
            data, real = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), ".gif"
        elif fmt == "multi-page TIFF":
            data, real = _encode(im, "TIFF", save_all=True, append_images=[im.rotate(180)]), ".tif"
        elif fmt in ("PGM", "PBM"):
            data, real = _encode(im.convert("L" if fmt == "PGM" else "1"), "PPM"), "." + fmt.lower()
        elif fmt == "RGBA PNG":
            rgba = im.convert("RGBA")
            rgba.putalpha(Image.fromarray(self.np_rng.integers(0, 256, (im.height, im.width), dtype=np.uint8)))
            data, real = _encode(rgba, "PNG"), ".png"
        elif fmt == "GIF":
            data, real = _encode(im.convert("P"), "GIF"), ".gif"
        else:
            real = {"BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp", "ICO": ".ico", "PPM": ".ppm"}[fmt]
            data = _encode(im, fmt)
        suffix = real if self.rng.random() < 0.6 else self.rng.choice(SUFFIXES)  # also under a wrong suffix
        return Case("format", f"{fmt} named {suffix}", suffix, data)

    def noise(self) -> Case:
        if self.rng.random() < 0.5:
            n = self.rng.choice((1, 8, 100, 1000, 50_000))
            return Case("noise", f"{n} random bytes", self.rng.choice(SUFFIXES), self.np_rng.bytes(n))
        w, h = self.rng.randint(12, 400), self.rng.randint(12, 400)
        pixels = self.np_rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        suffix = self.rng.choice([".png", ".jpg", ".bmp", ".webp"])
        return Case("noise", f"{w}x{h} noise pixels {suffix}", suffix, _encode(Image.fromarray(pixels), SAVE_AS[suffix]))

    def not_an_image(self) -> Case:
        kind = self.rng.choice(("pdf", "text", "html", "empty", "zip", "jpeg magic then text", "svg"))
        data = {
            "pdf": b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
                   b"trailer<</Root 1 0 R>>\n%%EOF\n",
            "text": b"Not a photo. Just text named like one.\n" * 20,
            "html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
            "empty": b"",
            "zip": b"PK\x03\x04" + bytes(26) + b"PK\x05\x06" + bytes(18),
            "jpeg magic then text": b"\xff\xd8\xff\xe0" + b"hello" * 100,
            "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"></svg>',
        }[kind]
        return Case("not an image", f"{kind} named .jpg", ".jpg", data)


# -- running --------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    loaded: int = 0
    faces: int = 0
    clean_errors: int = 0
    uncaught: int = 0
    hangs: int = 0


@dataclass
class Summary:
    """What a campaign found: per-mutation tallies, failures (with tracebacks), CLI runs, peak memory."""

    tallies: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    failures: list[tuple[Case, str]] = field(default_factory=list)
    cli_runs: int = 0
    cli_exit_codes: Counter = field(default_factory=Counter)
    slowest: float = 0.0
    peak_rss_mb: float = 0.0
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return sum(t.cases for t in self.tallies.values())

    @property
    def uncaught(self) -> int:
        return sum(t.uncaught for t in self.tallies.values())

    @property
    def hangs(self) -> int:
        return sum(t.hangs for t in self.tallies.values())


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


def _base_photos(shared: Path) -> list[Path]:
    data = shared / "data"
    photos = sorted((data / "lfw-subset").glob("*/*_000[12].jpg"))[:8]
    photos += sorted((data / "avengers").glob("*/*1.png"))[:3] + sorted((data / "orl").glob("s1/1.pgm"))
    if not photos:
        raise SystemExit(f"no photos under {data}; pass --shared")
    return photos


def _gallery(shared: Path, folder: Path, analyzer: object) -> object:
    """A small gallery of real faces (two LFW people) and its identifier."""
    from faceprint.gallery import Gallery, enroll
    from faceprint.gallery import build_identifier

    people = shared / "data" / "lfw-subset"
    items = [(p, people / p / f"{p}_{i:04d}.jpg") for p in ("Tony_Blair", "Colin_Powell") for i in (1, 2, 3)]
    g = Gallery(folder / "fuzz-gallery.sqlite")
    enroll(g, analyzer, items)
    return build_identifier(g, analyzer)


def run_campaign(
    n: int, seed: int = 0, shared: Path | None = None, cli_every: int = 10, timeout: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Run `n` cases; see the module docstring."""
    from typer.testing import CliRunner

    from faceprint.analyzer import FaceAnalyzer
    from faceprint.cli.app import app
    from faceprint.image import image_size, load_image
    from faceprint.recognize import identify_images

    shared = shared or Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    summary = Summary()
    runner = CliRunner()
    analyzer = FaceAnalyzer()
    mutator = Mutator(_base_photos(shared), seed)
    old = signal.signal(signal.SIGALRM, _alarm)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="faceprint-fuzz-") as tmp:
        folder = Path(tmp)
        identifier = _gallery(shared, folder, analyzer)
        for i, case in enumerate(mutator.cases(n)):
            tally = summary.tallies[case.kind]
            tally.cases += 1
            path = folder / f"case{i}{case.suffix}"
            path.write_bytes(case.data)
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a warning that reaches the console counts as a failure too
                    try:
                        image = load_image(path)
                        load_image(case.data)
                        image_size(path)
                        tally.loaded += 1
                    except FaceprintError:
                        image = None
                        tally.clean_errors += 1
                    if image is not None:
                        results = identify_images([path], analyzer, identifier)
                        tally.faces += any(r.face is not None for r in results)
                    if cli_every and i % cli_every == 0:
                        r = runner.invoke(app, ["detect", str(path), "--json"])
                        summary.cli_runs += 1
                        summary.cli_exit_codes[r.exit_code] += 1
                        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
                        if r.exit_code not in (0, 2) or (r.exception and not isinstance(r.exception, SystemExit)) \
                                or "Traceback" in r.output or (r.exit_code == 2 and len(errors) != 1):
                            detail = "".join(traceback.format_exception(r.exception)) if r.exception else r.output
                            raise AssertionError(f"CLI detect exit {r.exit_code}: {detail}")
            except Hang:
                tally.hangs += 1
                summary.failures.append((case, f"hang over {timeout:g} s"))
            except Exception as exc:  # noqa: BLE001 - counting exactly these is the point
                tally.uncaught += 1
                summary.failures.append((case, "".join(traceback.format_exception(exc))))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                summary.slowest = max(summary.slowest, time.perf_counter() - t0)
                path.unlink()
            if progress is not None:
                progress(i + 1, n)
    signal.signal(signal.SIGALRM, old)
    summary.seconds = time.perf_counter() - t_start
    summary.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return summary


def print_summary(s: Summary, seed: int) -> None:
    print("| mutation | cases | loaded | with a face | clean errors | uncaught | hangs |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind, t in s.tallies.items():
        print(f"| {kind} | {t.cases} | {t.loaded} | {t.faces} | {t.clean_errors} | {t.uncaught} | {t.hangs} |")
    total = Tally(*(sum(getattr(t, f) for t in s.tallies.values()) for f in ("cases", "loaded", "faces", "clean_errors", "uncaught", "hangs")))
    print(f"| **all (seed {seed})** | {total.cases} | {total.loaded} | {total.faces} | {total.clean_errors} | {total.uncaught} | {total.hangs} |")
    codes = ", ".join(f"exit {c}: {n}" for c, n in sorted(s.cli_exit_codes.items()))
    print(f"\nCLI `detect --json` runs: {s.cli_runs} ({codes})")
    print(f"slowest case {s.slowest:.2f} s; {s.seconds:.0f} s in all; peak memory (ru_maxrss) {s.peak_rss_mb:.0f} MB")
    for case, why in s.failures[:20]:
        print(f"\nFAILED {case.kind}: {case.detail}\n{why}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli-every", type=int, default=10, help="Also run every N-th case through the CLI (0: never).")
    ap.add_argument("--timeout", type=float, default=10.0, help="Seconds after which a case counts as a hang.")
    ap.add_argument("--shared", type=Path, default=None, help="The shared data folder (default: $FACEPRINT_SHARED or ../shared).")
    args = ap.parse_args()

    def progress(done: int, n: int) -> None:
        if done % 500 == 0 or done == n:
            print(f"  {done}/{n} cases", file=sys.stderr, flush=True)

    s = run_campaign(args.cases, args.seed, args.shared, args.cli_every, args.timeout, progress)
    print_summary(s, args.seed)
    raise SystemExit(1 if s.failures else 0)


if __name__ == "__main__":
    main()
