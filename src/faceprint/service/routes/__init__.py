"""The /v1 routes, one module per resource: `inference` (detect, embed, verify, identify, video), `people` (people
and faces of a gallery), `clusters` (a gallery's stored clusters, for review) and `admin` (galleries and API keys).

Gallery routes live at ``/v1/...`` for a server of one gallery, and at ``/v1/galleries/{gallery}/...`` for a
server of a folder of galleries (``--galleries DIR``); the handlers are the same.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from faceprint.service import schemas
from faceprint.service.access_audit import audited
from faceprint.service.routes._common import body_ref
from faceprint.service.routes.admin import admin_router
from faceprint.service.routes.clusters import add_cluster_routes
from faceprint.service.routes.inference import identify, inference_router, video
from faceprint.service.routes.people import add_people_routes

__all__ = ["inference_router", "gallery_router", "admin_router"]


def gallery_router(multi: bool) -> APIRouter:
    """The routes over one gallery, under /v1 or, with several galleries, /v1/galleries/{gallery}."""
    router = APIRouter(prefix="/v1/galleries/{gallery}" if multi else "/v1", tags=["gallery"])
    param = [{"name": "gallery", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"}}] if multi else []

    def add(path: str, fn: Any, method: str, body: str | None = None, request_body: dict[str, Any] | None = None,
            audit: str | None = None, face_owner: bool = False, **kw: Any) -> None:
        """Add one route; `audit`: the action it records in the gallery's audit log (service.access_audit), for
        a handler that records none through the library (enrolment, rename, removal and identify do)."""
        extra = {**(body_ref(body) if body else {}), **({"requestBody": request_body} if request_body else {}),
                 **({"parameters": param} if param else {})}
        handler = audited(audit, fn, face_owner=face_owner) if audit else fn
        router.add_api_route(path, handler, methods=[method], openapi_extra=extra or None, **kw)

    add("/identify", identify, "POST", body="identify", response_model=schemas.IdentifyOut)
    add("/video", video, "POST", body="video", audit="identify", response_model=schemas.VideoOut)
    add_people_routes(router, add)
    add_cluster_routes(router, add)
    return router
