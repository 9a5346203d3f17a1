"""The audit record of a gallery request whose handler records none through the library.

Every request that touches a gallery's data leaves a row in that gallery's audit log (gallery/audit.py): enrolment,
rename, removal and identification record through the library (in their own transaction where they write; one
insert for identify, the hot path), and the other gallery routes (the reads: people, a person, a face's image, the
stored clusters and their faces' images; the cluster edits; video) are wrapped here, each with its action: one record
after the handler, saying who (the request's key), what (the action, and the route in ``detail``), which people (the
names the answer shows, or the owner of the face whose image was sent) and the result (``ok`` or the error's code).
tests/test_audit_routes.py walks every gallery route of the OpenAPI and checks that each leaves a row.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from faceprint.gallery.audit import record
from faceprint.errors import FaceprintError
from faceprint.service.errors import HttpError, api_error_for

__all__ = ["audited"]

log = logging.getLogger(__name__)

PATH_IDS = ("face_id", "cluster_id")
"""Path parameters copied into the record's detail (the names go into its people)."""


def audited(action: str, handler: Callable[..., Awaitable[Any]], *, face_owner: bool = False) -> Callable[..., Awaitable[Any]]:
    """`handler` (a route taking ``request``), recording one audit row of `action` after each call, whatever its
    result. `face_owner`: the route sends an enrolled face's image, whose person the record names."""

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        out: Any = None
        result = "ok"
        try:
            out = await handler(*args, **kwargs)
            return out
        except HttpError as exc:
            result = exc.code
            raise
        except FaceprintError as exc:  # the code the client is answered with
            result = api_error_for(exc).code
            raise
        except Exception as exc:
            result = type(exc).__name__
            raise
        finally:
            await run_in_threadpool(_record, request, action, kwargs, out, result, face_owner)

    # FastAPI reads the parameters from the signature, resolving string annotations in the function's own module:
    # give it the handler's, resolved there.
    run.__signature__ = inspect.signature(handler, eval_str=True)  # type: ignore[attr-defined]
    return run


def _names(out: Any) -> list[str]:
    """The people an answer shows: its ``name``, its ``people``' names, and every ``person`` in it."""
    found: set[str] = set()

    def walk(x: Any, top: bool) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if isinstance(v, str) and (k == "person" or (top and k == "name")):
                    found.add(v)
                elif k == "people" and isinstance(v, list):
                    found.update(p["name"] for p in v if isinstance(p, dict) and isinstance(p.get("name"), str))
                else:
                    walk(v, False)
        elif isinstance(x, list):
            for v in x:
                walk(v, False)

    walk(out, True)
    return sorted(found)


def _record(request: Request, action: str, params: dict[str, Any], out: Any, result: str, face_owner: bool) -> None:
    from faceprint.service.routes._common import gallery_name, state

    try:
        store = state(request).hub.open(gallery_name(request)).store  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001  (no gallery to record in: an unknown or unreachable one)
        log.info("no audit record of %s %s: %s", request.method, request.url.path, exc)
        return
    people = _names(out)
    if "name" in params and isinstance(params["name"], str) and not people:
        from faceprint.names import lookup_name

        people = [lookup_name(params["name"])]
    if face_owner and "face_id" in params:
        people = sorted({f.person for f in store.faces(ids=[int(params["face_id"])])})
    route = getattr(request.scope.get("route"), "path", request.url.path)
    detail: dict[str, Any] = {"route": f"{request.method} {route}",
                              **{k: params[k] for k in PATH_IDS if isinstance(params.get(k), int)}}
    record(store, action, people, detail, result, required=False)
