"""`faceprint enroll` and `faceprint people ...`: build and edit the gallery."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from faceprint.cli._common import (
    plural,
    Exit,
    console,
    err_console,
    handle_errors,
    print_error,
    print_json,
    progress_bar,
    stored_model_name,
    styled,
    table,
)
from faceprint.cli._gallery_opts import GalleryOpt
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.errors import InvalidOption, NoImagesFound, UnknownModel
from faceprint.models import DEFAULT_MODEL
from faceprint.names import lookup_name, person_name

people_app = typer.Typer(help="List, show, rename and remove enrolled people and faces.", no_args_is_help=True)

WaitOpt = Annotated[
    float,
    typer.Option("--wait", min=0.0, help="Seconds to wait for a gallery that another process is writing to (then exit 7)."),
]


def enroll(
    paths: Annotated[list[Path], typer.Argument(help="DIR of identity folders (DIR/<person>/<images>), or images with --person.")],
    person: Annotated[Optional[str], typer.Option("--person", "-p", help="Enrol the given images as this person.")] = None,
    gallery: GalleryOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model.")] = DEFAULT_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    largest: Annotated[bool, typer.Option("--largest", help="Enrol the largest face of photos with several faces instead of skipping them.")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log", help="Where to append the per-image log (default: <gallery>-enroll.log beside the gallery, one file for every run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    engine: Annotated[str, typer.Option(help="local, or ray: detection and embedding on Ray actors (pip install faceprint[ray]).")] = "local",
    address: Annotated[Optional[str], typer.Option(help="With --engine ray: a running Ray cluster (auto, or ray://HOST:PORT); default: start a local one.")] = None,
    wait: WaitOpt = 10.0,
) -> None:
    """Enrol people: detect, align and embed each photo, store it in the gallery. Reruns skip what is enrolled."""
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.gallery import Gallery, enroll as run_enroll, identity_folders
    from faceprint.image import SUPPORTED_SUFFIXES
    from faceprint.output_paths import check_output_file

    with handle_errors():
        model = stored_model_name(model)
        if log_file is not None:
            check_output_file(log_file, "--log file")
        if person is not None:
            person = person_name(person)
        if engine not in ("local", "ray"):
            raise UnknownModel("engine", engine, ["local", "ray"])
        if address is not None and engine != "ray":
            raise InvalidOption("--address is for --engine ray")
        if person is None:
            if len(paths) != 1:
                print_error("give one directory of identity folders (DIR/<person>/<images>), or images with --person NAME")
                raise typer.Exit(int(Exit.USAGE))
            items = identity_folders(paths[0])
        else:
            items = []
            for p in paths:
                if p.is_dir():
                    items += [(person, q) for q in sorted(p.iterdir()) if q.suffix.lower() in SUPPORTED_SUFFIXES]
                else:
                    items.append((person, p))
            if not items:
                raise NoImagesFound(f"no images given for {person!r}")
        g = Gallery(gallery, timeout=wait)
        beside = g.path if isinstance(g.path, Path) else Path.cwd() / "postgres-gallery"  # a database: log here
        log_path = log_file or beside.with_name(f"{beside.stem}-enroll.log")  # appended: one file, not one a run
        handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("faceprint.gallery.enroll")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = logging.getLogger().getEffectiveLevel() <= logging.INFO  # -v shows each skipped image
        logger.info("run of %s: %d images into %s (%s)", time.strftime("%Y-%m-%d %H:%M:%S"), len(items), g.path, model)
        try:
            several = "largest" if largest else "skip"
            with progress_bar() as bar:
                task = bar.add_task("enrolling", total=len(items))
                if engine == "ray":
                    from faceprint.gallery.ray_enroll import enroll_ray

                    FaceAnalyzer(model=model, detector=detector)  # a bad model or detector fails here, not on an actor
                    report = enroll_ray(g, items, model, detector, several=several, address=address,
                                        on_image=lambda _: bar.advance(task))
                else:
                    analyzer = FaceAnalyzer(model=model, detector=detector)
                    report = run_enroll(g, analyzer, items, several=several, on_image=lambda _: bar.advance(task))
            logger.info("summary: %s", report.to_dict())
        except KeyboardInterrupt:
            err_console.print(Text.assemble(styled("interrupted", "yellow"), ": every finished batch is saved; rerun the same command to continue."))
            raise typer.Exit(130) from None
        finally:
            logger.removeHandler(handler)
            handler.close()
            g.close()
    # Nothing enrolled and something failed (no face, unreadable, ...): exit 2. A rerun that finds everything
    # already enrolled succeeds.
    failed = sum(len(v) for r, v in report.skipped.items() if r != "already enrolled")
    code = Exit.BAD_INPUT if report.faces_enrolled == 0 and failed else Exit.OK
    if as_json:
        print_json({**report.to_dict(), "people_enrolled": sum(1 for n in report.enrolled.values() if n),
                    "gallery": str(g.path), "model": model, "log": str(log_path)})
        raise typer.Exit(int(code))
    out = table(f"enrolment into {g.path} ({model})", "")
    out.add_column("count", justify="right", no_wrap=True)
    people_enrolled = sum(1 for n in report.enrolled.values() if n)
    out.add_row("people enrolled", str(people_enrolled))
    if people_enrolled != len(report.enrolled):
        out.add_row("people in the photos", str(len(report.enrolled)))
    out.add_row("images", str(report.images))
    out.add_row("faces enrolled", str(report.faces_enrolled))
    for reason, skipped in report.skipped.items():
        out.add_row(f"skipped: {reason}", str(len(skipped)))
    console.print(out)
    several_faces = len(report.skipped["several faces"])
    if several_faces and not largest:  # the commonest skip has a one-flag fix: say it here, not only in the log
        console.print(Text.assemble(styled("note:", "yellow"), f" {plural(several_faces, 'photo')} skipped for several "
                                    "faces; rerun with --largest to enrol the largest face of each"), highlight=False)
    console.print(f"details: {log_path}", highlight=False)
    if code != Exit.OK:
        print_error(f"none of the {report.images} images was enrolled ({failed} skipped for a problem; see {log_path})")
    raise typer.Exit(int(code))


def _open(gallery: Path | None, wait: float = 10.0):
    from faceprint.gallery import Gallery

    return Gallery(gallery, timeout=wait, create=False)


@people_app.command("list")
def people_list(gallery: GalleryOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False, wait: WaitOpt = 10.0) -> None:
    """Everyone enrolled, with face counts and models."""
    with handle_errors(), _open(gallery, wait) as g:
        people = g.people()
    if as_json:
        print_json([{"name": p.name, "faces": p.n_faces, "models": list(p.models)} for p in people])
        return
    out = table(plural(len(people), "person", "people"), "name", "faces", "models")
    for p in people:
        out.add_row(p.name, str(p.n_faces), ", ".join(p.models))
    console.print(out)


@people_app.command("show")
def people_show(name: str, gallery: GalleryOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False, wait: WaitOpt = 10.0) -> None:
    """One person's enrolled faces: id, source image, box, models."""
    with handle_errors(), _open(gallery, wait) as g:
        faces = g.faces(lookup_name(name))
    if as_json:
        print_json([{"id": f.id, "source": f.source, "sha256": f.sha256, "box": list(f.face.box) if f.face else None, "models": list(f.models)} for f in faces])
        return
    out = table(f"{name}: {plural(len(faces), 'face')}", "face id", "source", "box", "models")
    for f in faces:
        box = ", ".join(f"{v:.0f}" for v in f.face.box) if f.face else "-"
        out.add_row(str(f.id), f.source, box, ", ".join(f.models))
    console.print(out)


@people_app.command("rename")
def people_rename(old: str, new: str, gallery: GalleryOpt = None, wait: WaitOpt = 10.0) -> None:
    """Rename a person (classifiers fitted before become stale)."""
    with handle_errors(), _open(gallery, wait) as g:
        new = person_name(new)
        g.rename_person(lookup_name(old), new)
    console.print(f"renamed {old} -> {new}", highlight=False)


@people_app.command("remove")
def people_remove(name: str, gallery: GalleryOpt = None, wait: WaitOpt = 10.0) -> None:
    """Remove a person with all their faces."""
    with handle_errors(), _open(gallery, wait) as g:
        n = g.remove_person(lookup_name(name)).n_faces
    console.print(f"removed {name} and {plural(n, 'face')}", highlight=False)


@people_app.command("remove-face")
def people_remove_face(face_id: int, gallery: GalleryOpt = None, wait: WaitOpt = 10.0) -> None:
    """Remove one enrolled face by its id (see `people show`)."""
    with handle_errors(), _open(gallery, wait) as g:
        g.remove_face(face_id)
    console.print(f"removed face {face_id}", highlight=False)
