"""`faceprint viz ...`: pictures of embeddings, datasets and verification errors. Each takes --out FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from faceprint.cli._common import check_threshold, console, err_console, handle_errors, labelled_embeddings, plural
from faceprint.cli._gallery_opts import GalleryOpt
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL
from faceprint.output_paths import PICTURE_SUFFIXES, check_output_file

viz_app = typer.Typer(help="Pictures: 2-D maps of embeddings, sample grids, hardest verification errors.", no_args_is_help=True)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Picture to write (PNG or JPEG by the suffix).")]


def _source(folder: Path | None, gallery: Path | None) -> tuple[Path | None, Path | None]:
    """Identity folders, or a gallery (the default one when neither is given)."""
    if folder is not None and gallery is not None:
        raise typer.BadParameter("give either DIR or --gallery, not both")
    if folder is None:
        from faceprint.gallery import default_gallery_path

        return None, gallery or default_gallery_path()
    return folder, None


@viz_app.command("tsne")
def viz_tsne(
    out: OutOpt,
    folder: Annotated[Optional[Path], typer.Argument(help="Identity folders DIR/<person>/<images> (default: the gallery).")] = None,
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    method: Annotated[str, typer.Option(help="tsne (scikit-learn) or umap (needs umap-learn).")] = "tsne",
    seed: Annotated[int, typer.Option(help="Random seed of the projection.")] = 0,
    detector: Annotated[str, typer.Option(help="Face detector for DIR: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, detector, path and content hash.")] = True,
) -> None:
    """2-D map of the embeddings (t-SNE, or UMAP), one colour and one label per person."""
    from faceprint.viz.tsne import METHODS, embedding_map_plot, project_2d

    if method not in METHODS:
        raise typer.BadParameter(f"choose one of: {', '.join(METHODS)}", param_hint="--method")
    src, gal = _source(folder, gallery)
    with handle_errors():
        check_output_file(out, "picture", PICTURE_SUFFIXES)
        data = labelled_embeddings(src, gal, model, detector, cache)
        try:
            with err_console.status(f"{method.upper()} of {plural(len(data), 'face')}"):  # seconds to a minute
                points = project_2d(data.vectors, method, seed=seed, metric=data.metric)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        where = src.name if src is not None else Path(str(gal)).name
        path = embedding_map_plot(points, data.labels, out, title=f"{method.upper()} of {plural(len(data), 'face')}, {plural(len(data.people), 'person', 'people')} ({where}, {data.model})")
    console.print(f"wrote {path}: {plural(len(data), 'face')} of {plural(len(data.people), 'person', 'people')}", highlight=False)


@viz_app.command("grid")
def viz_grid(
    folder: Annotated[Path, typer.Argument(help="Identity folders DIR/<person>/<images>.")],
    out: OutOpt,
    per_person: Annotated[int, typer.Option("--per-person", min=1, max=30, help="Photos per person.")] = 6,
    people: Annotated[int, typer.Option("--people", min=1, max=200, help="At most this many persons (by name).")] = 20,
    thumb: Annotated[int, typer.Option("--thumb", min=16, max=512, help="Thumbnail side in pixels.")] = 112,
) -> None:
    """A grid of sample photos, one row per person (the seed notebook's dataset picture)."""
    from faceprint.gallery import identity_folders
    from faceprint.viz.annotate import save_image
    from faceprint.viz.grid import face_grid

    with handle_errors():
        check_output_file(out, "picture", PICTURE_SUFFIXES)
        items = identity_folders(folder)
        picture = face_grid(items, per_person=per_person, max_people=people, thumb=thumb)
        path = save_image(picture, out)
    n_people = len({p for p, _ in items})
    console.print(f"wrote {path} ({picture.shape[1]}x{picture.shape[0]}): {min(people, n_people)} of {plural(n_people, 'person', 'people')}", highlight=False)


@viz_app.command("errors")
def viz_errors(
    pairs_file: Annotated[Path, typer.Argument(help="LFW pairs file.")],
    images: Annotated[Path, typer.Option("--images", help="Folder with <Name>/<Name>_NNNN.jpg.")],
    out: OutOpt,
    n: Annotated[int, typer.Option("--n", min=1, max=50, help="Pairs per column.")] = 8,
    threshold: Annotated[Optional[float], typer.Option(help="Decision threshold (default: the best one over all pairs).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, detector, path and content hash.")] = True,
) -> None:
    """The hardest false matches (different people, closest) and false non-matches (same person, farthest)."""
    from faceprint.cli.evaluate import embed_pairs
    from faceprint.evaluate.lfw import read_pairs
    from faceprint.viz.annotate import save_image
    from faceprint.viz.errors import error_pairs_picture, hardest_pairs

    with handle_errors():
        check_threshold(threshold)
        check_output_file(out, "picture", PICTURE_SUFFIXES)
        ev = embed_pairs(pairs_file, images, model, detector, cache)
        thr = threshold if threshold is not None else ev.result.threshold
        pairs = [(p.left, p.right) for p in read_pairs(pairs_file).pairs]
        fm, fnm = hardest_pairs(pairs, ev.distances, ev.same, thr, n)
        path = save_image(error_pairs_picture(images, fm, fnm, thr), out)
    n_fm = int(((ev.distances <= thr) & ~ev.same).sum())
    n_fnm = int(((ev.distances > thr) & ev.same).sum())
    console.print(f"wrote {path}: threshold {thr:.4f}, {plural(n_fm, 'false match', 'false matches')} and "
                  f"{plural(n_fnm, 'false non-match', 'false non-matches')} in {plural(len(pairs), 'pair')}", highlight=False)
