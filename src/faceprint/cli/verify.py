"""`faceprint verify A B`: are two photos the same person?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from faceprint.cli._common import Exit, check_threshold, console, distinct, err_console, handle_errors, print_json, styled
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL

COLLAPSED_THRESHOLD = 0.01
"""A model whose calibrated threshold is below this has collapsed its embeddings (distances of unit vectors run
from 0 to 2; trained models sit near 0.6-1.1): verdicts at such a threshold are noise."""


def verify(
    image_a: Annotated[Path, typer.Argument(help="First photo.")],
    image_b: Annotated[Path, typer.Argument(help="Second photo.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model (see `faceprint models list`).")] = DEFAULT_MODEL,
    threshold: Annotated[Optional[float], typer.Option(help="Distance threshold; default: the model's calibrated one.")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare the largest face of two photos. Exit 0: same person, 1: different, 2: unreadable or no face."""
    from faceprint.analyzer import FaceAnalyzer

    with handle_errors():
        check_threshold(threshold)
        analyzer = FaceAnalyzer(model=model, detector=detector)
        a = analyzer.embed_one(image_a, select="largest")
        b = analyzer.embed_one(image_b, select="largest")
        distance = float(a.embedding.paired_distances(b.embedding)[0])
    thr = analyzer.embedder.spec.threshold if threshold is None else threshold
    same = distance <= thr
    notes = [f"{fe.source}: {fe.n_faces} faces found, using the largest" for fe in (a, b) if fe.n_faces > 1]
    if analyzer.embedder.spec.threshold < COLLAPSED_THRESHOLD:
        notes.append(f"warning: {analyzer.model}'s distances have collapsed (its threshold is "
                     f"{analyzer.embedder.spec.threshold:.2e}): a barely trained checkpoint tells few faces apart; train it longer")
    if as_json:
        print_json(
            {
                "distance": distance,
                "threshold": thr,
                "same": same,
                "model": analyzer.model,
                "faces": [a.n_faces, b.n_faces],
                "notes": notes,
            }
        )
    else:
        for note in notes:
            err_console.print(note if note.startswith("warning:") else f"note: {note}", highlight=False)
        verdict = styled("same person", "green") if same else styled("different people", "red")
        op = "<=" if same else ">"
        d, t = distinct(distance, thr)
        console.print(Text.assemble(verdict, f": distance {d} {op} threshold {t} ({analyzer.model})"), highlight=False)
    raise typer.Exit(int(Exit.OK if same else Exit.DIFFERENT))
