"""The administration routes: the galleries of a --galleries server, and the API keys (admin scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

import faceprint
from faceprint.service import schemas
from faceprint.service.auth import require
from faceprint.service.errors import HttpError
from faceprint.service.inputs import read_request
from faceprint.service.keys import GALLERY_NAME, SCOPES, ApiKey
from faceprint.service.routes._common import state

__all__ = ["admin_router", "NEW_KEY_BODY"]

admin_router = APIRouter(prefix="/v1", tags=["admin"])

NEW_KEY_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["scope"], "additionalProperties": False, "properties": {
        "scope": {"type": "string", "enum": list(SCOPES), "description": "read < write < admin"},
        "gallery": {"type": ["string", "null"], "pattern": GALLERY_NAME.pattern,
                    "description": "bind the key to one gallery (a --galleries server only)"},
        "label": {"type": "string", "maxLength": 200, "description": "a note on whose key it is"}}}}}}


@admin_router.get("/galleries", response_model=schemas.GalleriesOut)
async def galleries(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """The galleries of this server's folder (--galleries); a key bound to one gallery sees that one."""
    st = state(request)
    if not st.config.multi:
        raise HttpError("not_found", "this server holds one gallery; its routes are /v1/people, /v1/identify, ...")
    names = st.hub.names()  # type: ignore[union-attr]
    return {"galleries": [n for n in names if key is None or key.gallery in (None, n)]}


@admin_router.get("/keys", response_model=schemas.KeysOut)
async def list_keys(request: Request, key: ApiKey | None = Depends(require("admin"))) -> dict[str, Any]:
    """Every key (never the keys themselves); a key bound to a gallery sees the keys of that gallery."""
    found = await run_in_threadpool(state(request).keys.list)
    return {"keys": [k.to_dict() for k in found if key is None or key.gallery in (None, k.gallery)]}


@admin_router.post("/keys", response_model=schemas.NewKeyOut, status_code=201, openapi_extra={"requestBody": NEW_KEY_BODY})
async def create_key(request: Request, key: ApiKey | None = Depends(require("admin"))) -> dict[str, Any]:
    """A new key, shown once: body ``{"scope": "read|write|admin", "gallery": NAME, "label": TEXT}``."""
    st = state(request)
    data = await read_request(request, 0)
    extra = sorted(set(data.values) - {"scope", "gallery", "label"})
    if extra:
        raise HttpError("invalid_parameter", f"this route takes scope, gallery and label, not {', '.join(map(repr, extra))}")
    if "scope" not in data.values:
        raise HttpError("missing_field", "the field 'scope' is required")
    scope = data.values["scope"]
    if scope not in SCOPES:
        raise HttpError("invalid_parameter", f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    gallery = data.values.get("gallery")
    if gallery is not None and (not isinstance(gallery, str) or not GALLERY_NAME.match(gallery)):
        raise HttpError("invalid_parameter", f"gallery must be a gallery name (letters, digits, '_' and '-', up to 64), got {gallery!r}")
    if gallery is not None and not st.config.multi:
        raise HttpError("invalid_parameter", "gallery binds a key to one gallery of a --galleries server")
    if key is not None and key.gallery is not None:
        if gallery not in (None, key.gallery):
            raise HttpError("forbidden", f"key {key.id} opens gallery {key.gallery!r} only")
        gallery = key.gallery
    label = data.values.get("label", "")
    if not isinstance(label, str) or len(label) > 200:
        raise HttpError("invalid_parameter", "label must be a string of at most 200 characters")
    try:
        secret, rec = await run_in_threadpool(st.keys.create, scope, gallery, label)
    except faceprint.FaceprintError as exc:
        raise HttpError("invalid_parameter", str(exc)) from None
    return {"key": secret, "id": rec.id, "scope": rec.scope, "gallery": rec.gallery}


@admin_router.delete("/keys/{key_id}", response_model=schemas.KeyOut)
async def revoke_key(request: Request, key_id: str, key: ApiKey | None = Depends(require("admin"))) -> dict[str, Any]:
    """Revoke a key by id. A key cannot revoke itself, nor the last unrevoked admin key that opens every gallery
    (409 conflict): a client could lock itself out, and without that key nobody could manage keys over HTTP."""
    st = state(request)
    found = {k.id: k for k in await run_in_threadpool(st.keys.list)}
    if key_id not in found or (key is not None and key.gallery not in (None, found[key_id].gallery)):
        raise HttpError("unknown_key", f"no key with id {key_id!r}")
    target = found[key_id]
    if key is not None and key.id == key_id and target.revoked is None:
        raise HttpError("conflict", f"key {key_id} cannot revoke itself over HTTP: revoke it with another admin key, "
                                    "or with `faceprint keys revoke` on the server")
    if target.revoked is None and target.scope == "admin" and target.gallery is None:
        others = [k for k in found.values() if k.id != key_id and k.revoked is None and k.scope == "admin" and k.gallery is None]
        if not others:
            raise HttpError("conflict", f"key {key_id} is the last admin key: create another admin key before revoking "
                                        "it (or revoke it with `faceprint keys revoke` on the server)")
    return (await run_in_threadpool(st.keys.revoke, key_id)).to_dict()
