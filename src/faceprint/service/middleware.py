"""Plain ASGI middleware that runs around every route: the request-body limit and deadline, the methods of each
path (``Allow``, ``HEAD``, ``OPTIONS``), and the access log."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.routing import Match

from faceprint.service.errors import HttpError, envelope

__all__ = ["BodyLimitMiddleware", "MethodsMiddleware", "AccessLogMiddleware", "access_log"]

access_log = logging.getLogger("faceprint.service.access")
"""One line per request: method, route, status, milliseconds, key id (never the key). `faceprint serve` prints it."""

_DRAIN_CAP = 64 * 1024 * 1024


class BodyLimitMiddleware:
    """413 body_too_large for a body above `max_body` bytes (413 video_too_large above `max_video` for a /video route).

    A declared Content-Length above the limit is answered before the app runs (after reading and dropping up to
    64 MB of the body, so that a client still sending gets the answer rather than a reset connection); a chunked
    body is counted as it arrives and refused when it passes the limit. The whole body must arrive within
    `timeout` seconds of the request's start (a Content-Length larger than what is sent would otherwise hold the
    connection open): past it the request is answered 503 timeout and the connection closed.
    """

    def __init__(self, app: Any, max_body: int, max_video: int | None = None, timeout: float | None = None) -> None:
        self.app, self.max_body, self.timeout = app, max_body, timeout
        self.max_video = max_body if max_video is None else max_video

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        video = scope["path"].endswith("/video")
        limit, code = (self.max_video, "video_too_large") if video else (self.max_body, "body_too_large")
        length = dict(scope["headers"]).get(b"content-length")
        end = None if self.timeout is None else time.monotonic() + self.timeout

        async def timed() -> dict[str, Any]:
            """The next body message, or TimeoutError once the request's time is up."""
            if end is None:
                return await receive()
            return await asyncio.wait_for(receive(), max(0.0, end - time.monotonic()))

        if length is not None and length.isdigit() and int(length) > limit:
            drained = 0
            while drained < _DRAIN_CAP:
                try:
                    msg = await timed()
                except TimeoutError:
                    break
                drained += len(msg.get("body", b""))
                if msg["type"] != "http.request" or not msg.get("more_body"):
                    break
            await _send_error(send, 413, code, self._message(int(length), limit))
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            try:
                msg = await timed()
            except TimeoutError:
                raise HttpError("timeout", f"the request body did not arrive within this server's --timeout of "
                                           f"{self.timeout:g} s ({seen:,} bytes came)", {"Connection": "close"}) from None
            seen += len(msg.get("body", b""))
            if msg["type"] == "http.request" and not msg.get("more_body"):
                scope["faceprint.body_read"] = True  # all of it: a reader must not wait for more (inputs._drain)
            if seen > limit:
                raise HttpError(code, self._message(seen, limit))
            return msg

        await self.app(scope, counted, send)

    def _message(self, n: int, limit: int) -> str:
        return f"the request body ({n:,} bytes or more) is above this server's limit of {limit:,} bytes"


async def _send_error(send: Any, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None,
                      close: bool = True) -> None:
    body = json.dumps(envelope(code, message)).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *([(b"connection", b"close")] if close else []), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _flat(routes: list[Any]) -> Any:
    """Every route, with those of included routers (which newer FastAPI versions keep as one entry each)."""
    for route in routes:
        inner = getattr(route, "effective_route_contexts", None)
        if inner is not None:
            yield from (ctx.original_route for ctx in inner())
        else:
            yield route


def _path_methods(scope: dict[str, Any]) -> set[str] | None:
    """The methods of every route whose path matches this request's (None: no route has this path, or it is a
    mounted folder such as /static)."""
    methods: set[str] = set()
    matched = False
    for route in _flat(scope["app"].router.routes):
        match, _ = route.matches(scope)  # FULL: path and method; PARTIAL: the path only
        if match == Match.NONE:
            continue
        route_methods = getattr(route, "methods", None)
        if route_methods is None:
            return None
        matched = True
        methods |= set(route_methods)
    if not matched:
        return None
    if "GET" in methods:
        methods.add("HEAD")
    return methods | {"OPTIONS"}


class MethodsMiddleware:
    """Every path answers for all of its methods: ``OPTIONS`` answers 204 with ``Allow`` listing them, ``HEAD`` runs
    the GET route without its body, and any other method answers 405 method_not_allowed with the full ``Allow``
    (Starlette alone would name the methods of the first route of the path only)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        methods = _path_methods(scope)
        method = scope["method"]
        if methods is None or method in methods - {"HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        allow = (b"allow", ", ".join(sorted(methods)).encode())
        if method != "HEAD":  # answered here: read the body first, so that a client still sending is not reset
            try:
                while (await receive()).get("more_body"):
                    pass
            except HttpError:  # above the body limit: answer all the same, the connection closes
                pass
        if method == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": [allow]})
            await send({"type": "http.response.body", "body": b""})
            return
        if method == "HEAD":
            async def no_body(msg: dict[str, Any]) -> None:
                if msg["type"] == "http.response.body":
                    msg = {**msg, "body": b""}
                await send(msg)

            await self.app({**scope, "method": "GET"}, receive, no_body)
            return
        await _send_error(send, 405, "method_not_allowed", f"{method} is not a method of {scope['path']}; it takes "
                                                           f"{', '.join(sorted(methods))}", [allow], close=False)


class AccessLogMiddleware:
    """Logs one line per request to `access_log`: method, route (the path template, so names and ids in paths do not
    spread into logs), status, milliseconds and the id of the key used (never the key)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start, status = time.monotonic(), 0

        async def seen(msg: dict[str, Any]) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, seen)
        finally:
            route = scope.get("route")
            path = getattr(route, "path_format", None) or getattr(route, "path", None) or scope["path"]
            if route is None and scope["path"].startswith("/v1/"):
                path = "(no route)"
            access_log.info("%s %s %s %.0fms key=%s", scope["method"], path, status or 500,
                            1000 * (time.monotonic() - start), scope.get("faceprint.key_id", "-"))
