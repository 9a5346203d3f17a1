"""Who may call a route: the key (Bearer or X-API-Key), its scope, its gallery, and its rate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from faceprint.gallery.audit import set_actor
from faceprint.service.errors import HttpError
from faceprint.service.keys import SCOPES, ApiKey

__all__ = ["require", "presented_key", "CHALLENGE"]


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="faceprint"'}
"""Sent with every 401: how to authenticate (RFC 6750)."""


def presented_key(request: Request) -> str | None:
    """The key sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; 401 for an Authorization header of
    another form (a key sent without "Bearer ", or another scheme), saying which form it takes."""
    auth = request.headers.get("authorization", "")
    if auth.strip():  # (an empty header counts as none)
        scheme, _, rest = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not rest.strip():
            raise HttpError("unauthorized", "the Authorization header must be 'Bearer KEY' (the word Bearer, a space, "
                                            "then the key); or send the key as 'X-API-Key: KEY'", CHALLENGE)
        return rest.strip()
    return request.headers.get("x-api-key") or None


def require(scope: str) -> Callable[[Request], Awaitable[ApiKey | None]]:
    """A route dependency: the caller's key record (None while the server has no keys), after checking that the
    models are loaded (503), that a valid key was sent (401), its rate (429), its scope and its gallery (403)."""
    if scope not in SCOPES:
        raise ValueError(scope)

    async def check(request: Request) -> ApiKey | None:
        state = request.app.state.fp
        rec: ApiKey | None = None
        if await run_in_threadpool(state.keys.any):
            key = presented_key(request)
            if key is None:
                raise HttpError("unauthorized", "this server needs an API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'", CHALLENGE)
            rec = await run_in_threadpool(state.keys.lookup, key)
            if rec is None:
                raise HttpError("unauthorized", "unknown or revoked API key", CHALLENGE)
            request.scope["faceprint.key_id"] = rec.id  # for the access log
            wait = state.limiter.take(rec.id)
            if wait > 0:
                raise HttpError(
                    "rate_limited", f"key {rec.id} is over {state.limiter.per_minute:g} requests per minute",
                    {"Retry-After": state.limiter.retry_after(wait)},
                )
            if not rec.allows(scope):
                raise HttpError("forbidden", f"key {rec.id} has scope {rec.scope!r}; this route needs {scope!r}")
            gallery = request.path_params.get("gallery")
            if rec.gallery is not None and gallery is not None and gallery != rec.gallery:
                raise HttpError("forbidden", f"key {rec.id} opens gallery {rec.gallery!r} only")
        set_actor(f"key:{rec.id}" if rec is not None else "anonymous")  # whom the gallery's audit log names
        if not state.ready.is_set():
            msg = f"loading the models failed: {state.load_error}" if state.load_error else "the models are still loading"
            raise HttpError("not_ready", msg, {"Retry-After": "2"})
        return rec

    return check
