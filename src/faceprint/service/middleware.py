"""The request-body limit, as plain ASGI middleware: it runs before any route reads the body."""

from __future__ import annotations

import json
from typing import Any

from faceprint.service.errors import ApiError, envelope

__all__ = ["BodyLimitMiddleware"]

_DRAIN_CAP = 64 * 1024 * 1024


class BodyLimitMiddleware:
    """413 body_too_large for a body above `max_body` bytes.

    A declared Content-Length above the limit is answered before the app runs (after reading and dropping up to
    64 MB of the body, so that a client still sending gets the answer rather than a reset connection); a chunked
    body is counted as it arrives and refused when it passes the limit.
    """

    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            drained = 0
            while drained < _DRAIN_CAP:
                msg = await receive()
                drained += len(msg.get("body", b""))
                if msg["type"] != "http.request" or not msg.get("more_body"):
                    break
            body = json.dumps(envelope("body_too_large", self._message(int(length)))).encode()
            await send({"type": "http.response.start", "status": 413, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.max_body:
                raise ApiError("body_too_large", self._message(seen))
            return msg

        await self.app(scope, counted, send)

    def _message(self, n: int) -> str:
        return f"the request body ({n:,} bytes or more) is above this server's limit of {self.max_body:,} bytes"
