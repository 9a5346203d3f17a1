"""`faceprint export ...`: embeddings for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from faceprint.cli._common import console, err_console, handle_errors, labelled_embeddings, plural
from faceprint.cli._gallery_opts import GalleryOpt
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.models import DEFAULT_MODEL
from faceprint.output_paths import check_output_dir

export_app = typer.Typer(help="Export embeddings for other tools.", no_args_is_help=True)


@export_app.command("projector")
def export_projector(
    outdir: Annotated[Path, typer.Argument(help="Folder to write vecs.tsv, meta.tsv, sprite.png and projector_config.pbtxt into.")],
    folder: Annotated[Optional[Path], typer.Argument(help="Identity folders DIR/<person>/<images> (default: the gallery).")] = None,
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    thumb: Annotated[int, typer.Option("--thumb", min=8, max=256, help="Sprite tile side in pixels (shrunk to keep the sprite <= 8192 px).")] = 64,
    sprite: Annotated[bool, typer.Option(help="Write the sprite of face crops.")] = True,
    detector: Annotated[str, typer.Option(help="Face detector for DIR: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, detector, path and content hash.")] = True,
) -> None:
    """Files for the TensorBoard embedding projector: `tensorboard --logdir OUTDIR`, then the Projector tab."""
    from faceprint.export.projector import face_crops, sprite_layout, write_projector
    from faceprint.gallery import default_gallery_path

    if folder is not None and gallery is not None:
        raise typer.BadParameter("give either DIR or --gallery, not both")
    gal = None if folder is not None else (gallery or default_gallery_path())
    with handle_errors():
        check_output_dir(outdir, "projector folder")
        data = labelled_embeddings(folder, gal, model, detector, cache)
        thumbs = None
        if sprite:
            _, side = sprite_layout(len(data), thumb)
            with err_console.status(f"cutting {plural(len(data), 'face')} for the sprite"):
                thumbs = face_crops(data.sources, data.faces, side)
        files = write_projector(outdir, data.vectors, data.labels, data.sources, thumbs, tensor_name=f"faceprint/{data.model}")
    extra = f", sprite {files.thumb}px tiles" if files.sprite else ""
    console.print(f"wrote {files.folder}: {plural(len(data), 'embedding')} of {plural(len(data.people), 'person', 'people')}{extra}", highlight=False)
    console.print(f"view: tensorboard --logdir {files.folder}  (Projector tab), or load vecs.tsv and meta.tsv at projector.tensorflow.org", highlight=False)
