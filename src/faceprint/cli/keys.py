"""`faceprint keys create|list|revoke`: API keys of `faceprint serve`, kept hashed beside the galleries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from faceprint.cli._common import Exit, console, err_console, print_error, print_json
from faceprint.cli._gallery_opts import gallery_arg

keys_app = typer.Typer(help="Create, list and revoke the API keys of `faceprint serve`.", no_args_is_help=True)

GalleryOpt = Annotated[Optional[Path], typer.Option("--gallery", "-g", parser=gallery_arg, help="The gallery `serve --gallery` opens: a file or a postgresql:// URL, whose keys live in that database (default: $FACEPRINT_GALLERY or the user data directory).")]
GalleriesOpt = Annotated[Optional[Path], typer.Option("--galleries", parser=gallery_arg, help="The folder or postgresql:// database `serve --galleries` opens.")]


def _store(gallery: Optional[Path], galleries: Optional[Path]):  # type: ignore[no-untyped-def]
    from faceprint.gallery.store import default_gallery_path
    from faceprint.service.keys import KeyStore, keys_path

    if gallery is not None and galleries is not None:
        print_error("give --gallery or --galleries, not both")
        raise typer.Exit(int(Exit.USAGE))
    if galleries is not None:
        return KeyStore(keys_path(None, galleries))
    return KeyStore(keys_path(gallery or default_gallery_path(), None))


@keys_app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="read (detect, embed, verify, identify, list), write (+ enrol, rename, delete) or admin (+ keys over HTTP).")] = "read",
    gallery: GalleryOpt = None,
    galleries: GalleriesOpt = None,
    bind: Annotated[Optional[str], typer.Option(help="With --galleries: the key opens this gallery only.")] = None,
    label: Annotated[str, typer.Option(help="A note to tell keys apart in `keys list`.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help='Print {"key", "id", "scope"} as JSON.')] = False,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from faceprint.errors import FaceprintError
    from faceprint.service.keys import SCOPES

    if scope not in SCOPES:
        print_error(f"unknown scope {scope!r}; choose one of: {', '.join(SCOPES)}")
        raise typer.Exit(int(Exit.USAGE))
    if bind is not None and galleries is None:
        print_error("--bind names a gallery of --galleries DIR")
        raise typer.Exit(int(Exit.USAGE))
    store = _store(gallery, galleries)
    try:
        key, rec = store.create(scope, bind, label)
    except FaceprintError as exc:
        print_error(str(exc))
        raise typer.Exit(int(Exit.USAGE)) from None
    finally:
        store.close()
    if as_json:
        print_json({"key": key, "id": rec.id, "scope": rec.scope})
        return
    console.print(key, highlight=False, soft_wrap=True)
    err_console.print(f"key {rec.id} ({rec.scope}{', gallery ' + rec.gallery if rec.gallery else ''}) stored in {store.path}; "
                      "it is shown this once", highlight=False)


@keys_app.command("list")
def list_keys(
    gallery: GalleryOpt = None,
    galleries: GalleriesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Every key: id, scope, bound gallery, label, when created and revoked (never the keys themselves)."""
    import datetime as dt

    store = _store(gallery, galleries)
    found = store.list()
    store.close()
    if as_json:
        print_json([k.to_dict() for k in found])
        return
    table = Table("id", "scope", "gallery", "label", "created", "revoked")
    fmt = lambda t: dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if t else ""  # noqa: E731
    for k in found:
        table.add_row(k.id, k.scope, k.gallery or "(all)", k.label, fmt(k.created), fmt(k.revoked))
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `faceprint keys list`).")],
    gallery: GalleryOpt = None,
    galleries: GalleriesOpt = None,
) -> None:
    """Revoke a key: a running server refuses it from its next request."""
    store = _store(gallery, galleries)
    try:
        rec = store.revoke(key_id)
    except KeyError:
        print_error(f"no key with id {key_id!r} in {store.path}")
        raise typer.Exit(int(Exit.USAGE)) from None
    finally:
        store.close()
    console.print(f"revoked key {rec.id} ({rec.scope})", highlight=False)
