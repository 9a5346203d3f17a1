"""Reading requests: images from multipart files or base64 JSON, and parameters parsed strictly.

Both kinds of body carry the same names: multipart files ``file``, ``file1``/``file2`` or ``files`` (repeatable)
and form fields; or a JSON object with base64 strings ``image``, ``image1``/``image2`` or ``images`` (a list;
``data:image/...;base64,`` prefixes are accepted) and typed values. A boolean is ``true`` or ``false`` (in a form,
those two words, lower case); anything else is refused with 422, never guessed.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass, field

from starlette.requests import Request

from faceprint.errors import FaceprintError, ImageTooLarge
from faceprint.image import image_size
from faceprint.service.errors import HttpError

__all__ = ["Upload", "RequestData", "read_request", "check_pixels"]


@dataclass
class Upload:
    """One uploaded image: its bytes and the name it is reported under."""

    name: str
    data: bytes

    @property
    def source(self) -> str:
        """How the gallery records an uploaded face's source: ``upload:NAME``, never a path on the server."""
        return f"upload:{self.name}"

    def file(self) -> io.BytesIO:
        """A file object named after the upload (the gallery records the name as the face's source)."""
        fp = io.BytesIO(self.data)
        fp.name = self.source  # type: ignore[attr-defined]
        return fp


@dataclass
class RequestData:
    """The images (by field name) and other values of one request."""

    files: dict[str, list[Upload]] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    is_json: bool = False

    def images(self, *names: str) -> list[Upload]:
        out: list[Upload] = []
        for n in names:
            out += self.files.get(n, [])
        return out

    def one(self, name: str) -> Upload:
        """The single image of field `name` (multipart ``file`` / JSON ``image`` and so on)."""
        found = self.files.get(name, [])
        if not found:
            json_name = name.replace("file", "image")
            raise HttpError("missing_field", f"send the image as multipart field {name!r} or JSON field {json_name!r}")
        if len(found) > 1:
            raise HttpError("invalid_parameter", f"field {name!r} takes one image, got {len(found)}")
        return found[0]

    def boolean(self, name: str, default: bool) -> bool:
        v = self.values.get(name)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if not self.is_json and v in ("true", "false"):  # a form's text: the two words only, as JSON writes them
            return v == "true"
        raise HttpError("invalid_parameter", f"{name} must be true or false, got {v!r}")

    def number(self, name: str, default: float | None = None, minimum: float = 0.0) -> float | None:
        v = self.values.get(name)
        if v is None or v == "":
            return default
        try:
            if isinstance(v, bool) or (self.is_json and not isinstance(v, (int, float))):
                raise ValueError
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise HttpError("invalid_parameter", f"{name} must be a number, got {v!r}") from None
        if not math.isfinite(x) or x < minimum:
            raise HttpError("invalid_parameter", f"{name} must be a finite number >= {minimum:g}, got {v!r}")
        return x

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        v = self.values.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, float) and self.is_json and v.is_integer():  # JSON's 13.0 is the integer 13 (JSON Schema agrees)
            v = int(v)
        if isinstance(v, bool) or (self.is_json and not isinstance(v, int)):
            raise HttpError("invalid_parameter", f"{name} must be an integer, got {v!r}")
        try:
            x = int(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise HttpError("invalid_parameter", f"{name} must be an integer, got {v!r}") from None
        if not minimum <= x <= maximum:
            raise HttpError("invalid_parameter", f"{name} must be between {minimum} and {maximum}, got {x}")
        return x

    def text(self, name: str) -> str:
        v = self.values.get(name)
        if v is None:
            raise HttpError("missing_field", f"the field {name!r} is required")
        if not isinstance(v, str) or not v.strip():
            raise HttpError("invalid_parameter", f"{name} must be a non-empty string, got {v!r}")
        return v


_FILE_FIELDS = {"file": "image", "file1": "image1", "file2": "image2", "files": "images"}


async def read_request(request: Request, max_files: int) -> RequestData:
    """Parse a multipart or JSON body (415 for anything else, 400 when malformed, 413 for too many files)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        return await _read_form(request, max_files)
    if ctype == "application/json" or (ctype == "" and not await request.body()):
        return _read_json(await request.body(), max_files)
    raise HttpError("unsupported_media_type", f"content type {ctype or 'none'!r}: send multipart/form-data or application/json")


async def _read_form(request: Request, max_files: int) -> RequestData:
    from starlette.exceptions import HTTPException
    from starlette.formparsers import MultiPartException

    try:
        form = await request.form(max_files=max_files, max_fields=100)
    except (MultiPartException, HTTPException) as exc:  # Starlette reports multipart errors as a 400 HTTPException
        message = str(getattr(exc, "message", None) or getattr(exc, "detail", exc))
        if "too many files" in message.lower():
            await _drain(request)  # read the rest (within --max-body-mb) so the client gets the answer, not a reset
            raise HttpError("too_many_files", f"more than {max_files} files in one request; send them in several "
                                              "requests (faceprint.client.Client.enroll does)") from None
        raise HttpError("bad_request", f"malformed multipart body: {message}") from None
    data = RequestData()
    seen: set[str] = set()
    for key, value in form.multi_items():
        if isinstance(value, str):
            if key in _FILE_FIELDS:
                raise HttpError("bad_request", f"field {key!r} must be a file upload")
            data.values[key] = value
            continue
        if key not in _FILE_FIELDS:
            raise HttpError("invalid_parameter", f"unexpected file field {key!r}; use {', '.join(_FILE_FIELDS)}")
        name = (value.filename or key).replace("\\", "/").rsplit("/", 1)[-1] or key  # a name, not a path
        base, i = name, 1
        while name in seen:  # gallery sources and skip reports name each upload; keep the names apart
            i += 1
            name = f"{base}#{i}"
        seen.add(name)
        data.files.setdefault(key, []).append(Upload(name, await value.read()))
    await form.close()
    return data


async def _drain(request: Request) -> None:
    """Read and drop what is left of the body (the body-limit middleware bounds it in size and time, and says when
    all of it has come)."""
    while not request.scope.get("faceprint.body_read"):
        msg = await request.receive()
        if msg["type"] != "http.request" or not msg.get("more_body"):
            return


def _read_json(body: bytes, max_files: int) -> RequestData:
    try:
        obj = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError("bad_request", f"the body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise HttpError("bad_request", "the JSON body must be an object")
    data = RequestData(is_json=True)
    n = 0
    for key, value in obj.items():
        if key not in _FILE_FIELDS.values():
            data.values[key] = value
            continue
        items = value if key == "images" else [value]
        if not isinstance(items, list):
            raise HttpError("invalid_parameter", "images must be a list of base64 strings")
        n += len(items)
        if n > max_files:
            raise HttpError("too_many_files", f"more than {max_files} images in one request")
        field_name = next(f for f, j in _FILE_FIELDS.items() if j == key)
        for i, item in enumerate(items):
            label = f"{key}[{i}]" if key == "images" else key
            data.files.setdefault(field_name, []).append(Upload(label, _b64(item, label)))
    return data


def _b64(value: object, label: str) -> bytes:
    if not isinstance(value, str):
        raise HttpError("invalid_parameter", f"{label} must be a base64 string")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if not value:
        raise HttpError("invalid_parameter", f"{label} is empty: send a base64-encoded image")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HttpError("bad_request", f"{label} is not valid base64") from None


def check_pixels(upload: Upload, max_pixels: int, unreadable_ok: bool = False) -> None:
    """413 image_too_large when the image's header says it has more than `max_pixels` pixels; 400 when there is no
    readable header (unless `unreadable_ok`: enrolment reports those per file). Runs before any pixel is decoded."""
    try:
        w, h = image_size(upload.data)
    except ImageTooLarge as exc:  # a header declaring more pixels than anything faceprint reads
        raise HttpError("image_too_large", f"{upload.name}: {exc.reason}") from None
    except FaceprintError as exc:
        if unreadable_ok:
            return
        raise HttpError("invalid_image", f"{upload.name}: {getattr(exc, 'reason', exc)}") from None
    if w * h > max_pixels:
        raise HttpError("image_too_large", f"{upload.name}: {w} x {h} = {w * h:,} pixels, above this server's limit of {max_pixels:,}")
