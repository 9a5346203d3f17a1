"""The `make demo` job, on the bundled sample data.

1. Verification: same-person and different-person pairs from LFW, as a table (pair, distance, verdict, correct?).
2. Recognition: enrol 60% of each Avenger's photos into a fresh gallery, identify the held-out photos and photos
   of people who are not enrolled, print every verdict in the seed notebooks' words, and write annotated images.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from faceprint.analyzer import FaceAnalyzer
from faceprint.gallery import Gallery, enroll, identity_folders, split_per_person
from faceprint.recognize import build_identifier, identify_images
from faceprint.viz import draw_faces, save_image
from faceprint.viz.annotate import GREEN, RED

SAME = [("Tony_Blair", 1, 2), ("George_W_Bush", 1, 3), ("Colin_Powell", 2, 5), ("Vladimir_Putin", 1, 4), ("Hugo_Chavez", 3, 6)]
DIFFERENT = [("Tony_Blair", 1, "Gerhard_Schroeder", 1), ("George_W_Bush", 2, "Colin_Powell", 1),
             ("Ariel_Sharon", 1, "Donald_Rumsfeld", 2), ("Jacques_Chirac", 1, "Arnold_Schwarzenegger", 1),
             ("Hugo_Chavez", 2, "Vladimir_Putin", 3)]
NOT_ENROLLED = ["Tony_Blair/Tony_Blair_0001.jpg", "Colin_Powell/Colin_Powell_0002.jpg", "Hugo_Chavez/Hugo_Chavez_0001.jpg"]

console = Console(soft_wrap=True)


def photo(root: Path, name: str, i: int) -> Path:
    return root / name / f"{name}_{i:04d}.jpg"


def verification(analyzer: FaceAnalyzer, lfw: Path) -> int:
    thr = analyzer.embedder.spec.threshold
    pairs = [(photo(lfw, n, i), photo(lfw, n, j), True) for n, i, j in SAME]
    pairs += [(photo(lfw, a, i), photo(lfw, b, j), False) for a, i, b, j in DIFFERENT]
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
    train, test = split_per_person(identity_folders(avengers), 0.6)
    gallery_path = out / "gallery.sqlite"
    for p in out.glob("gallery.sqlite*"):
        p.unlink()
    with Gallery(gallery_path) as g, Progress(console=console, transient=True) as bar:
        task = bar.add_task("enrolling", total=len(train))
        report = enroll(g, analyzer, train, on_image=lambda _: bar.advance(task))
        ident = build_identifier(g, analyzer)
    console.print(f"2. recognition: enrolled {report.faces_enrolled} faces of {len(report.enrolled)} Avengers "
                  f"({report.images} photos; skipped {sum(len(v) for v in report.skipped.values())}) into {gallery_path}")
    queries = [(person, path) for person, path in test] + [("(not enrolled)", lfw / p) for p in NOT_ENROLLED]
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
    grid = _grid([t for person in tiles for t in tiles[person][:2]][:12])
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


MISSING_DATA = """\
error: the demo's sample photos are not here: {missing}
The demo reads two folders of the shared data folder (default ../shared, beside the repository):
  {shared}/data/lfw-subset/<Name>/<Name>_NNNN.jpg   LFW photos (e.g. Tony_Blair/Tony_Blair_0001.jpg; 10 people x 10 photos)
  {shared}/data/avengers/<person>/<photo>.png       the Avengers face set (5 people, about 50 photos each)
Put them there, or point to the folder that holds data/: make demo SHARED=/path/to/shared
(or python examples/demo.py --shared /path/to/shared, or $FACEPRINT_SHARED)."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    args = ap.parse_args()
    lfw, avengers = args.shared / "data" / "lfw-subset", args.shared / "data" / "avengers"
    missing = [d for d in (lfw, avengers) if not d.is_dir()]
    if missing:
        print(MISSING_DATA.format(shared=args.shared, missing=", ".join(map(str, missing))), file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    analyzer = FaceAnalyzer()
    errors = verification(analyzer, lfw)
    errors += recognition(analyzer, avengers, lfw, args.out)
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s ({errors} wrong answers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
