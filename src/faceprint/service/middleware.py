"""The request-body limit, as plain ASGI middleware: it runs before any route reads the body."""

from __future__ import annotations

import json
from typing import Any

from faceprint.service.errors import HttpError, envelope

__all__ = ["BodyLimitMiddleware"]

_DRAIN_CAP = 64 * 1024 * 1024


class BodyLimitMiddleware:
    """413 body_too_large for a body above `max_body` bytes (413 video_too_large above `max_video` for a /video route).

    A declared Content-Length above the limit is answered before the app runs (after reading and dropping up to
    64 MB of the body, so that a client still sending gets the answer rather than a reset connection); a chunked
    body is counted as it arrives and refused when it passes the limit.
    """

    def __init__(self, app: Any, max_body: int, max_video: int | None = None) -> None:
        self.app, self.max_body = app, max_body
        self.max_video = max_body if max_video is None else max_video

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        video = scope["path"].endswith("/video")
        limit, code = (self.max_video, "video_too_large") if video else (self.max_body, "body_too_large")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            drained = 0
            while drained < _DRAIN_CAP:
                msg = await receive()
                drained += len(msg.get("body", b""))
                if msg["type"] != "http.request" or not msg.get("more_body"):
                    break
            body = json.dumps(envelope(code, self._message(int(length), limit))).encode()
            await send({"type": "http.response.start", "status": 413, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > limit:
                raise HttpError(code, self._message(seen, limit))
            return msg

        await self.app(scope, counted, send)

    def _message(self, n: int, limit: int) -> str:
        return f"the request body ({n:,} bytes or more) is above this server's limit of {limit:,} bytes"
