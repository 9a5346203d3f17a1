"""What the route modules share: the server's state, reading a body by its route's declaration, and the gallery
named in the path."""

from __future__ import annotations

from typing import Any

from fastapi import Path, Request

from faceprint.errors import InvalidName
from faceprint.names import MAX_NAME_LENGTH, lookup_name, person_name
from faceprint.recognize.open_set import DEFAULT_FAR
from faceprint.recognize.score_law import check_far
from faceprint.service.bodies import BODIES
from faceprint.service.errors import HttpError
from faceprint.service.inputs import RequestData, check_pixels, read_request
from faceprint.service.state import ServiceState

__all__ = ["state", "read_body", "gallery_name", "image_url", "far_option", "new_name", "found_name", "body_ref", "name_param"]


def state(request: Request) -> ServiceState:
    return request.app.state.fp


async def read_body(request: Request, route: str, unreadable_ok: bool = False) -> RequestData:
    """The body of `route` (a key of bodies.BODIES): parsed, its options checked (422 for unknown or conflicting
    ones), and every image's size read from its header (413 above --max-pixels, before decoding)."""
    st = state(request)
    body = BODIES[route]
    data = await read_request(request, st.config.limits.max_files if body.kind == "image" else 1)
    if body.kind == "video" and data.is_json:
        raise HttpError("unsupported_media_type", "send the clip as multipart/form-data field 'file'")
    body.check(data)
    if body.kind == "image":
        for uploads in data.files.values():
            for u in uploads:
                check_pixels(u, st.config.limits.max_pixels, unreadable_ok)
    return data


def body_ref(route: str) -> dict[str, Any]:
    """openapi_extra for a route whose request body `service.openapi` builds from bodies.BODIES[route]."""
    return {"x-faceprint-body": route}


def gallery_name(request: Request) -> str | None:
    return request.path_params.get("gallery")


def image_url(request: Request, face_id: int) -> str:
    g = gallery_name(request)
    return f"/v1/galleries/{g}/faces/{face_id}/image" if g is not None else f"/v1/faces/{face_id}/image"


def far_option(data: RequestData) -> float:
    """The `far` option: the share of strangers the caller accepts being named (default 1%)."""
    try:
        return check_far(data.number("far", DEFAULT_FAR))  # type: ignore[arg-type]  (a default is given)
    except ValueError as exc:
        raise HttpError("invalid_parameter", str(exc)) from None


def new_name(name: object, what: str = "name") -> str:
    """A name to store (enrolment, rename) by faceprint.names' rule; 422 invalid_parameter saying what is wrong."""
    try:
        return person_name(name)
    except InvalidName as exc:
        raise HttpError("invalid_parameter", f"{what}: {exc}") from None


def found_name(name: str) -> str:
    """A name to look up (show, remove, rename from): stored form when valid, else as sent (finds older names)."""
    return lookup_name(name)


def name_param() -> Any:
    """The {name} path parameter, documented with the name rule (its pattern is added by service.openapi)."""
    return Path(description=f"a person's name: up to {MAX_NAME_LENGTH} characters, no control or invisible format "
                            "characters, no '/'; trimmed and NFC-normalised", min_length=1, max_length=MAX_NAME_LENGTH)
