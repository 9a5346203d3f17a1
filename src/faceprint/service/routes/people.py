"""The people and faces of a gallery: list (paged), show, enrol, rename, remove, and each face's image.

Reads run in worker threads, writes hold the gallery's write lock (`GalleryHub.writing`); names go through the one
name rule (faceprint.names): a name to store is checked (422 invalid_parameter), a name to look up is normalised.
"""

from __future__ import annotations

import hashlib
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import faceprint
from faceprint.errors import UnknownPerson
from faceprint.names import MAX_NAME_LENGTH
from faceprint.service import schemas
from faceprint.service.auth import require
from faceprint.service.errors import HttpError
from faceprint.service.inputs import Upload, read_request
from faceprint.service.keys import ApiKey
from faceprint.service.routes._common import found_name, gallery_name, image_url, name_param, new_name, read_body, state

__all__ = ["add_people_routes", "RENAME_BODY", "MAX_PAGE", "crop_jpeg", "crop_array_jpeg"]

FaceId = Annotated[int, Path(ge=1, le=2**63 - 1, description="an enrolled face's id")]
Name = Annotated[str, name_param()]
MAX_PAGE = 500
"""The most items one page of a list holds."""
Offset = Annotated[int, Query(ge=0, le=2**31, description="how many items to skip (paging)")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"how many items to return, at most {MAX_PAGE}")]

RENAME_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "x-faceprint-name": True,
                            "description": "the new name (same rule as the path's)"}}}}}}


def add_people_routes(router: APIRouter, add: Any) -> None:
    """Add the routes to a gallery router; `add(path, handler, method, **kw)` adds one (with the gallery parameter)."""
    add("/people", people, "GET", audit="read", response_model=schemas.PeopleOut)
    add("/people/{name}", person, "GET", audit="read", response_model=schemas.PersonOut)
    add("/people/{name}/faces", enroll, "POST", body="enroll", response_model=schemas.EnrollOut)
    add("/people/{name}", rename, "PATCH", request_body=RENAME_BODY, response_model=schemas.RenameOut)
    add("/people/{name}", remove_person, "DELETE", response_model=schemas.RemovedOut)
    add("/faces/{face_id}", remove_face, "DELETE", response_model=schemas.RemovedOut)
    add("/faces/{face_id}/image", face_image, "GET", audit="read", face_owner=True, response_class=Response,
        responses={200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "description": "JPEG"}})


def _page(total: int, offset: int, limit: int) -> dict[str, Any]:
    nxt = offset + limit
    return {"total": total, "offset": offset, "limit": limit, "next_offset": nxt if nxt < total else None}


async def people(request: Request, offset: Offset = 0, limit: Limit = 100,
                 q: Annotated[str, Query(max_length=MAX_NAME_LENGTH, description="only names holding this text (any case)")] = "",
                 key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Everyone enrolled, by name, with their number of faces: a page of `limit` from `offset` (`total` counts
    everyone who matches `q`; `next_offset` is null on the last page)."""
    st, gname = state(request), gallery_name(request)
    found = await run_in_threadpool(lambda: st.hub.open(gname).people())  # type: ignore[union-attr]
    if q.strip():
        needle = q.strip().casefold()
        found = [p for p in found if needle in p.name.casefold()]
    page = found[offset: offset + limit]
    return {"people": [{"name": p.name, "faces": p.n_faces, "models": list(p.models)} for p in page],
            **_page(len(found), offset, limit)}


async def person(request: Request, name: Name, offset: Offset = 0, limit: Limit = 100,
                 key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """One person's enrolled faces, oldest first, each with its id and the URL of its image: a page of `limit`
    from `offset` (`total` counts all their faces)."""
    st, gname, name = state(request), gallery_name(request), found_name(name)

    def run() -> list[Any]:
        g = st.hub.open(gname)  # type: ignore[union-attr]
        g.store.person_id(name)  # 404 unknown_person for a name not enrolled
        return g.faces(name)

    faces = await run_in_threadpool(run)
    return {"name": name, "faces": [
        {"id": f.id, "source": f.source, "box": [round(v, 1) for v in f.face.box] if f.face else None,
         "score": round(f.face.score, 4) if f.face else None, "created": f.created, "models": list(f.models),
         "image": image_url(request, f.id)}
        for f in faces[offset: offset + limit]
    ], **_page(len(faces), offset, limit)}


def crop_jpeg(upload: Upload, box: tuple[float, float, float, float] | None) -> bytes:
    """The enrolled face with a margin, at most 256 px a side, as JPEG: what GET /faces/{id}/image returns."""
    return crop_array_jpeg(faceprint.load_image(upload.data), box)


def crop_array_jpeg(img: Any, box: tuple[float, float, float, float] | None, side: int = 256) -> bytes:
    """A face of a loaded RGB image with a margin, at most `side` px a side, as JPEG."""
    from PIL import Image

    h, w = img.shape[:2]
    if box is not None:
        x1, y1, x2, y2 = box
        m = 0.25 * max(x2 - x1, y2 - y1)
        x1, y1, x2, y2 = (int(max(0, x1 - m)), int(max(0, y1 - m)), int(min(w, x2 + m)), int(min(h, y2 + m)))
        if x2 > x1 and y2 > y1:
            img = img[y1:y2, x1:x2]
    pil = Image.fromarray(img)
    pil.thumbnail((side, side))
    out = io.BytesIO()
    pil.save(out, format="JPEG", quality=88)
    return out.getvalue()


def _skip_detail(reason: str, detail: str) -> str:
    """The library's skip detail in the service's words (its hint names the CLI's --largest)."""
    if reason == "several faces":
        return f"{detail.split(';')[0]}; crop the photo, or send largest=true to enrol the largest face"
    return detail


async def enroll(request: Request, name: Name, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Enrol `files` (or `file`, or JSON `images`/`image`) as `name` (created when new). Each photo must show one
    face (`largest=true` takes the largest of several); the answer lists what was enrolled and what was skipped,
    each with its reason. At most --max-files photos per request: send more in several requests."""
    st, gname = state(request), gallery_name(request)
    name = new_name(name, "the person's name in the path")
    data = await read_body(request, "enroll", unreadable_ok=True)
    uploads = data.images("files", "file")
    if not uploads:
        raise HttpError("missing_field", "send the photos as multipart field 'files' (or 'file'), or JSON 'images' (or 'image')")
    several = "largest" if data.boolean("largest", False) else "skip"

    def run() -> dict[str, Any]:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            report = g.enroll(name, [u.file() for u in uploads], several=several)
            by_name = {u.source: u for u in uploads}
            records = {f.sha256: f for f in g.faces(name)} if report.added else {}
            enrolled = []
            for label in [lbl for _, lbl in report.added]:
                u = by_name[label]
                rec = records[hashlib.sha256(u.data).hexdigest()]
                box = rec.face.box if rec.face else None
                g.store.put_face_image(rec.id, crop_jpeg(u, box), {"person": name, "content_type": "image/jpeg"})
                enrolled.append({"id": rec.id, "source": label, "box": [round(v, 1) for v in box] if box else None,
                                 "image": image_url(request, rec.id)})
        skipped = [{"source": src, "reason": reason, "detail": _skip_detail(reason, detail)}
                   for reason, items in report.skipped.items() for src, detail in items]
        order = {u.source: i for i, u in enumerate(uploads)}
        skipped.sort(key=lambda s: order.get(s["source"], 0))
        return {"person": name, "enrolled": enrolled, "skipped": skipped}

    return await st.pool.run(run)


async def rename(request: Request, name: Name, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Rename a person: body ``{"name": "new name"}`` (409 conflict when the new name is taken)."""
    st, gname, name = state(request), gallery_name(request), found_name(name)
    data = await read_request(request, 0)
    extra = sorted(set(data.values) - {"name"})
    if extra:
        raise HttpError("invalid_parameter", f"this route takes only 'name', not {', '.join(map(repr, extra))}")
    if "name" not in data.values:
        raise HttpError("missing_field", "the field 'name' is required")
    new = new_name(data.values["name"], "the new name")

    def run() -> None:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            g.store.person_id(name)  # 404 first
            if new != name and any(p.name == new for p in g.people()):
                raise HttpError("conflict", f"cannot rename {name!r}: {new!r} is already enrolled")
            if new != name:
                g.rename(name, new)

    await run_in_threadpool(run)
    return {"name": new, "previous": name}


async def remove_person(request: Request, name: Name, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Remove a person with all their faces and the faces' stored images."""
    st, gname, name = state(request), gallery_name(request), found_name(name)

    def run() -> int:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            return g.remove(name)  # the store removes the faces' stored images with them

    return {"removed": name, "faces": await run_in_threadpool(run)}


async def remove_face(request: Request, face_id: FaceId, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Remove one enrolled face (and its image) by id."""
    st, gname = state(request), gallery_name(request)

    def run() -> None:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            try:
                g.remove_face(face_id)
            except UnknownPerson:
                raise HttpError("unknown_face", f"no face with id {face_id}") from None

    await run_in_threadpool(run)
    return {"removed": face_id, "faces": 1}


async def face_image(request: Request, face_id: FaceId, key: ApiKey | None = Depends(require("read"))) -> Response:
    """The enrolled face's crop (JPEG): stored at enrolment, or cut from the source file for faces enrolled with
    the CLI."""
    st, gname = state(request), gallery_name(request)

    def run() -> bytes:
        g = st.hub.open(gname)  # type: ignore[union-attr]
        crop = g.store.face_image(face_id)
        if crop is not None:
            return crop
        rec = next((f for f in g.faces() if f.id == face_id), None)
        if rec is None:
            raise HttpError("unknown_face", f"no face with id {face_id}")
        if rec.source.startswith("upload:"):  # an upload whose crop was not stored (the server died in between)
            raise HttpError("no_image", f"face {face_id} has no stored image")
        try:
            with open(rec.source, "rb") as fp:
                data = fp.read()
            return crop_jpeg(Upload(rec.source, data), rec.face.box if rec.face else None)
        except (OSError, faceprint.FaceprintError):
            raise HttpError("no_image", f"face {face_id} has no stored image and its source {rec.source!r} cannot be read") from None

    return Response(await run_in_threadpool(run), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})
