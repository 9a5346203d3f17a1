"""What each route reads from its request body: one declaration per route gives both its OpenAPI request schema
(multipart and JSON) and the check that refuses unknown or conflicting options with 422.

A route's `Body` lists its image fields (multipart ``file``/``files``..., JSON ``image``/``images``... as base64)
and its options with their JSON-schema types and ranges; limits that depend on how the server was started
(``--max-files``, the top_k cap) are filled in when the schema is built (`Body.openapi(limits)`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from faceprint.service.config import Limits
from faceprint.service.errors import HttpError
from faceprint.service.inputs import RequestData

__all__ = ["Body", "BODIES", "IMAGE", "VIDEO"]

IMAGE = "image"
VIDEO = "video"

_JSON_NAME = {"file": "image", "file1": "image1", "file2": "image2", "files": "images"}

_OPTIONS: dict[str, dict[str, Any]] = {
    "threshold": {"type": "number", "minimum": 0, "description": "a distance threshold to decide at, instead of the default"},
    "far": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1,
            "description": "the share of strangers that may be named (default 0.01); not with threshold"},
    "top_k": {"type": "integer", "minimum": 1, "description": "how many candidates to list per face (default 3)"},
    "largest": {"type": "boolean", "description": "only the largest face (enrolment: the largest of several)"},
    "detect_every": {"type": "integer", "minimum": 1, "maximum": 100, "description": "run the detector every N frames (default 5)"},
    "recheck_every": {"type": "number", "minimum": 0.01, "description": "recognise each track again every this many seconds (default 2)"},
}
_EXCLUSIVE = (("far", "threshold"),)
"""Options that cannot be given together."""


@dataclass(frozen=True)
class Body:
    """The body of one route: image fields (name -> one image or several) and option names."""

    files: dict[str, bool] = field(default_factory=dict)
    """Multipart field -> whether it takes several images (its JSON twin is named with "image")."""
    required: tuple[str, ...] = ()
    """Image fields that must be there (of a group, `aliases` lists the others that stand in for it)."""
    options: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    """Accepted, undocumented spellings of a field (field -> documented field)."""
    kind: str = IMAGE

    def allowed(self) -> set[str]:
        names = set(self.options)
        for f in [*self.files, *self.aliases]:
            names |= {f, _JSON_NAME[f]}
        return names

    def check(self, data: RequestData) -> None:
        """422 invalid_parameter for an option this route does not take (naming the nearest it does) or for two
        that exclude each other."""
        allowed = self.allowed()
        sent = set(data.values) | set(data.files)
        unknown = sorted(n for n in sent if n not in allowed)
        if unknown:
            hints = []
            for n in unknown:
                near = difflib.get_close_matches(n, sorted(allowed), n=1, cutoff=0.6)
                hints.append(f"{n!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
            raise HttpError("invalid_parameter", f"this route does not take {', '.join(hints)}; it takes: "
                                                 f"{', '.join(sorted(allowed)) or 'no body'}")
        for a, b in _EXCLUSIVE:
            if a in data.values and b in data.values:  # (sent at all: also as null or empty)
                raise HttpError("invalid_parameter", f"give {a} or {b}, not both ({a}: the share of strangers named; "
                                                     f"{b}: a fixed distance threshold)")

    def openapi(self, limits: Limits, description: str = "") -> dict[str, Any]:
        """The OpenAPI requestBody: multipart (files as binary) and, for images, JSON (base64)."""
        opts = {n: dict(_OPTIONS[n]) for n in self.options}
        if "top_k" in opts:
            opts["top_k"]["maximum"] = limits.max_top_k
        form: dict[str, Any] = {}
        js: dict[str, Any] = {}
        for f, many in self.files.items():
            binary = {"type": "string", "format": "binary"}
            b64 = {"type": "string", "format": "byte", "minLength": 1, "description": "an image, base64-encoded (a data: URL too)"}
            if many:
                cap = limits.max_files if self.kind == IMAGE else 1
                form[f] = {"type": "array", "items": binary, "minItems": 1, "maxItems": cap}
                js[_JSON_NAME[f]] = {"type": "array", "items": b64, "minItems": 1, "maxItems": cap}
            else:
                form[f] = binary
                js[_JSON_NAME[f]] = b64
        content: dict[str, Any] = {"multipart/form-data": {"schema": {
            "type": "object", "properties": {**form, **opts}, "required": list(self.required), "additionalProperties": False}}}
        if self.kind == IMAGE:  # in JSON an option may also be null: the same as leaving it out
            nullable = {n: {**o, "type": [o["type"], "null"]} for n, o in opts.items()}
            content["application/json"] = {"schema": {
                "type": "object", "properties": {**js, **nullable}, "required": [_JSON_NAME[r] for r in self.required],
                "additionalProperties": False}}
        for a, b in _EXCLUSIVE:  # options that exclude each other
            if a in opts and b in opts:
                for c in content.values():
                    c["schema"]["dependentSchemas"] = {a: {"properties": {b: False}}}
        return {"required": True, "content": content, **({"description": description} if description else {})}


BODIES: dict[str, Body] = {
    "detect": Body({"file": False}, ("file",), ("largest",)),
    "embed": Body({"file": False}, ("file",), ("largest",)),
    "verify": Body({"file1": False, "file2": False}, ("file1", "file2"), ("threshold",)),
    "identify": Body({"file": False}, ("file",), ("far", "threshold", "top_k", "largest")),
    "enroll": Body({"files": True}, ("files",), ("largest",), aliases={"file": "files"}),
    "video": Body({"file": False}, ("file",), ("detect_every", "recheck_every", "far", "threshold"), kind=VIDEO),
}
"""Route name -> its body."""
