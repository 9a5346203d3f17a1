"""The `make demo` job: verify same-person and different-person pairs from the bundled LFW sample.

Prints a table (pair, distance, verdict, correct?) and writes one annotated image of every face it used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from faceprint.analyzer import FaceAnalyzer
from faceprint.viz import draw_faces, save_image
from faceprint.viz.annotate import GREEN

SAME = [("Tony_Blair", 1, 2), ("George_W_Bush", 1, 3), ("Colin_Powell", 2, 5), ("Vladimir_Putin", 1, 4), ("Hugo_Chavez", 3, 6)]
DIFFERENT = [("Tony_Blair", 1, "Gerhard_Schroeder", 1), ("George_W_Bush", 2, "Colin_Powell", 1),
             ("Ariel_Sharon", 1, "Donald_Rumsfeld", 2), ("Jacques_Chirac", 1, "Arnold_Schwarzenegger", 1),
             ("Hugo_Chavez", 2, "Vladimir_Putin", 3)]


def photo(root: Path, name: str, i: int) -> Path:
    return root / name / f"{name}_{i:04d}.jpg"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    args = ap.parse_args()
    root = args.shared / "data" / "lfw-subset"
    if not root.is_dir():
        print(f"demo data not found: {root} (set FACEPRINT_SHARED to the shared folder)", file=sys.stderr)
        return 2
    console = Console()
    t0 = time.perf_counter()
    analyzer = FaceAnalyzer()
    thr = analyzer.embedder.spec.threshold
    pairs = [(photo(root, n, i), photo(root, n, j), True) for n, i, j in SAME]
    pairs += [(photo(root, a, i), photo(root, b, j), False) for a, i, b, j in DIFFERENT]
    cache: dict[Path, object] = {}
    table = Table(title=f"faceprint verify: {analyzer.model}, threshold {thr:.2f}")
    for col in ("pair", "distance", "verdict", "truth", "correct?"):
        table.add_column(col)
    correct = 0
    for a, b, same in pairs:
        ea = cache.setdefault(a, analyzer.embed_one(a))
        eb = cache.setdefault(b, analyzer.embed_one(b))
        d = float(ea.embedding.paired_distances(eb.embedding)[0])  # type: ignore[attr-defined]
        verdict = d <= thr
        ok = verdict == same
        correct += ok
        table.add_row(f"{a.stem} / {b.stem}", f"{d:.3f}", "same" if verdict else "different",
                      "same" if same else "different", "[green]yes[/]" if ok else "[red]NO[/]")
    console.print(table)
    console.print(f"{correct}/{len(pairs)} pairs correct in {time.perf_counter() - t0:.1f} s")

    # One picture: the photos of the first two pairs side by side with their faces and landmarks drawn.
    tiles = []
    for path in [pairs[0][0], pairs[0][1], pairs[5][0], pairs[5][1]]:
        image = analyzer.load(path)
        faces = analyzer.detector.detect(image)
        tiles.append(draw_faces(image, faces, labels=[f"{path.stem} {f.score:.2f}" for f in faces], colors=[GREEN] * len(faces)))
    h = max(t.shape[0] for t in tiles)
    sheet = np.concatenate([np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0))) for t in tiles], axis=1)
    out = save_image(sheet, args.out / "demo_faces.jpg")
    console.print(f"annotated image: {out}")
    return 0 if correct == len(pairs) else 1


if __name__ == "__main__":
    sys.exit(main())
