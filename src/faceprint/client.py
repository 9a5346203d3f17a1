"""A small client for `faceprint serve`, on the standard library alone.

>>> from faceprint.client import Client
>>> c = Client("http://127.0.0.1:8000", key="fpk_...")                 # doctest: +SKIP
>>> c.enroll("Ada", ["ada1.jpg", "ada2.jpg"])["enrolled"]              # doctest: +SKIP
>>> c.enroll("Bob", "photos/bob/")["skipped"]                            # a folder, in as many requests as needed  # doctest: +SKIP
>>> [f["person"] for f in c.identify("party.jpg")["faces"]]            # doctest: +SKIP
['Ada', None]

Images are paths or bytes. Every method returns the decoded JSON answer; an error answer raises `ApiError`
with its HTTP ``status``, ``code`` (see the README's table) and ``message``. With a server of several galleries
(``--galleries``), pass ``gallery=`` to the client or use ``client.gallery(name)``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib import error, parse, request

from faceprint.errors import ApiError

__all__ = ["Client", "ApiError"]

Image = str | os.PathLike[str] | bytes


class Client:
    def __init__(self, url: str, key: str | None = None, *, gallery: str | None = None, timeout: float = 60.0) -> None:
        self.url, self.key, self.gallery_name, self.timeout = url.rstrip("/"), key, gallery, timeout

    def gallery(self, name: str) -> Client:
        """The same server and key, over gallery `name` of a --galleries server."""
        return Client(self.url, self.key, gallery=name, timeout=self.timeout)

    # -- plumbing ------------------------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, json_body: Any = None, files: list[tuple[str, Image]] | None = None,
        fields: dict[str, Any] | None = None, raw: bool = False, headers: dict[str, str] | None = None,
    ) -> Any:
        """One call: JSON or multipart body, JSON answer (bytes with `raw`); ApiError for an error status."""
        hdrs = dict(headers or {})
        if self.key is not None:
            hdrs.setdefault("Authorization", f"Bearer {self.key}")
        body: bytes | None = None
        if files is not None:
            body, ctype = _multipart(files, fields or {})
            hdrs["Content-Type"] = ctype
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        req = request.Request(self.url + path, data=body, method=method, headers=hdrs)
        try:
            with request.urlopen(req, timeout=self.timeout) as resp:
                data = resp.read()
                return data if raw else json.loads(data or b"null")
        except error.HTTPError as exc:
            data = exc.read()
            try:
                err = json.loads(data)["error"]
                code, message = err["code"], err["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", data[:200].decode("utf-8", "replace")
            raise ApiError(exc.code, code, message, {k.lower(): v for k, v in exc.headers.items()}) from None

    def _g(self, path: str) -> str:
        return f"/v1/galleries/{parse.quote(self.gallery_name, safe='')}{path}" if self.gallery_name else f"/v1{path}"

    # -- routes --------------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    def ready(self) -> dict[str, Any]:
        return self.request("GET", "/ready")

    def models(self) -> dict[str, Any]:
        return self.request("GET", "/v1/models")

    def detect(self, image: Image, *, largest: bool | None = None) -> dict[str, Any]:
        return self.request("POST", "/v1/detect", files=[("file", image)], fields=_opts(largest=largest))

    def embed(self, image: Image, *, largest: bool | None = None) -> dict[str, Any]:
        return self.request("POST", "/v1/embed", files=[("file", image)], fields=_opts(largest=largest))

    def verify(self, image1: Image, image2: Image, *, threshold: float | None = None) -> dict[str, Any]:
        return self.request("POST", "/v1/verify", files=[("file1", image1), ("file2", image2)], fields=_opts(threshold=threshold))

    def identify(self, image: Image, *, far: float | None = None, threshold: float | None = None, top_k: int | None = None,
                 largest: bool | None = None) -> dict[str, Any]:
        """Every face of one image (``{"faces": [...], "threshold", "score", "expected_stranger_rate", "model"}``);
        `far`: the share of strangers the server may name (default 1%), `threshold` overrides it."""
        return self.request("POST", self._g("/identify"), files=[("file", image)],
                            fields=_opts(far=far, threshold=threshold, top_k=top_k, largest=largest))

    def video(self, clip: Image, *, detect_every: int | None = None, recheck_every: float | None = None,
              far: float | None = None, threshold: float | None = None) -> dict[str, Any]:
        """The face tracks of a video clip (a path or bytes): ``{"tracks": [...], "frames", "fps", ...}``."""
        return self.request("POST", self._g("/video"), files=[("file", clip)],
                            fields=_opts(detect_every=detect_every, recheck_every=recheck_every, far=far, threshold=threshold))

    def people(self, *, q: str | None = None) -> list[dict[str, Any]]:
        """Everyone enrolled (`q`: whose name holds this text), fetched page by page."""
        return self._all(self._g("/people"), "people", q=q)

    def person(self, name: str) -> dict[str, Any]:
        """A person with all their faces (fetched page by page)."""
        first = self.request("GET", self._g(f"/people/{_q(name)}") + "?limit=500")
        first["faces"] = first["faces"] + self._all(self._g(f"/people/{_q(name)}"), "faces", start=first.get("next_offset"))
        first["next_offset"] = None
        return first

    def _all(self, path: str, field: str, start: int | None = 0, **query: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = start
        while offset is not None:
            page = self.request("GET", f"{path}?{parse.urlencode({'offset': offset, 'limit': 500, **_opts(**query)})}")
            out += page[field]
            offset = page.get("next_offset")
        return out

    def limits(self) -> dict[str, int]:
        """The server's request limits (max_files, max_body, max_pixels, max_top_k), from /v1/models."""
        return {**DEFAULT_LIMITS, **self.models().get("limits", {})}

    def enroll(self, name: str, images: Image | Iterable[Image], *, largest: bool | None = None) -> dict[str, Any]:
        """Enrol photos as `name`: paths, folders (every image inside, sorted), or bytes, any number of them. They
        go in as many requests as the server's --max-files and --max-body-mb need; the answer merges them:
        ``{"person", "enrolled": [...], "skipped": [...]}``. A photo too large for one request on its own is
        reported as skipped (reason "too large"); any other error answer raises ApiError (photos sent before it
        stay enrolled, and sending them again skips them as already enrolled)."""
        from faceprint.image import list_images

        given = [images] if isinstance(images, (str, os.PathLike, bytes)) else list(images)
        items: list[Image] = []
        for i in given:
            items += list_images(i) if not isinstance(i, bytes) and Path(i).is_dir() else [i]
        lim = self.limits()
        path = self._g(f"/people/{_q(name)}/faces")
        out: dict[str, Any] = {"person": name, "enrolled": [], "skipped": []}
        for batch in _batches(items, lim["max_files"], int(lim["max_body"] * 0.95) - 4096):
            try:
                rep = self.request("POST", path, files=[("files", i) for i in batch], fields=_opts(largest=largest))
            except ApiError as exc:
                if len(batch) != 1 or exc.code not in ("body_too_large", "image_too_large"):
                    raise
                label = f"upload:{Path(batch[0]).name}" if not isinstance(batch[0], bytes) else "upload:files0"
                out["skipped"].append({"source": label, "reason": "too large", "detail": exc.message})
                continue
            out["person"] = rep["person"]
            out["enrolled"] += rep["enrolled"]
            out["skipped"] += rep["skipped"]
        return out

    def rename(self, name: str, new: str) -> dict[str, Any]:
        return self.request("PATCH", self._g(f"/people/{_q(name)}"), json_body={"name": new})

    def remove(self, name: str) -> dict[str, Any]:
        return self.request("DELETE", self._g(f"/people/{_q(name)}"))

    def remove_face(self, face_id: int) -> dict[str, Any]:
        return self.request("DELETE", self._g(f"/faces/{int(face_id)}"))

    def face_image(self, face_id: int) -> bytes:
        return self.request("GET", self._g(f"/faces/{int(face_id)}/image"), raw=True)

    def clusters(self, *, offset: int = 0, limit: int = 50, faces: int = 12) -> dict[str, Any]:
        """One page of the gallery's stored clusters, largest first (see /docs: GET /v1/clusters)."""
        return self.request("GET", self._g(f"/clusters?offset={int(offset)}&limit={int(limit)}&faces={int(faces)}"))

    def cluster(self, cluster_id: int, *, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return self.request("GET", self._g(f"/clusters/{int(cluster_id)}?offset={int(offset)}&limit={int(limit)}"))

    def name_cluster(self, cluster_id: int, name: str) -> dict[str, Any]:
        return self.request("POST", self._g(f"/clusters/{int(cluster_id)}/name"), json_body={"name": name})

    def merge_clusters(self, cluster_ids: list[int]) -> dict[str, Any]:
        return self.request("POST", self._g("/clusters/merge"), json_body={"clusters": [int(c) for c in cluster_ids]})

    def split_cluster(self, cluster_id: int, face_ids: list[int]) -> dict[str, Any]:
        return self.request("POST", self._g(f"/clusters/{int(cluster_id)}/split"), json_body={"faces": [int(f) for f in face_ids]})

    def move_cluster_face(self, face_id: int, *, cluster: int | None = None, person: str | None = None) -> dict[str, Any]:
        body = {"cluster": int(cluster)} if cluster is not None else {"person": person}
        return self.request("POST", self._g(f"/clusters/faces/{int(face_id)}/move"), json_body=body)

    def not_this_person(self, face_id: int) -> dict[str, Any]:
        return self.request("POST", self._g(f"/clusters/faces/{int(face_id)}/not-this-person"))

    def cluster_face_image(self, face_id: int) -> bytes:
        return self.request("GET", self._g(f"/clusters/faces/{int(face_id)}/image"), raw=True)

    def galleries(self) -> list[str]:
        return self.request("GET", "/v1/galleries")["galleries"]

    def keys(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/keys")["keys"]

    def create_key(self, scope: str, *, gallery: str | None = None, label: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"scope": scope, "label": label}
        if gallery is not None:
            body["gallery"] = gallery
        return self.request("POST", "/v1/keys", json_body=body)

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/v1/keys/{_q(key_id)}")


DEFAULT_LIMITS = {"max_files": 20, "max_body": 10 * 1024 * 1024, "max_pixels": 40_000_000, "max_top_k": 100}
"""A server's limits when it does not say them (the defaults of `faceprint serve`)."""


def _size(image: Image) -> int:
    return len(image) if isinstance(image, bytes) else os.path.getsize(image)


def _batches(items: list[Image], max_files: int, max_bytes: int) -> Iterable[list[Image]]:
    """`items` in order, in groups of at most `max_files` and `max_bytes` (with room for the multipart headers)."""
    batch: list[Image] = []
    size = 0
    for item in items:
        n = _size(item) + 512
        if batch and (len(batch) >= max_files or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        yield batch


def _q(part: str) -> str:
    return parse.quote(part, safe="")


def _opts(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _multipart(files: list[tuple[str, Image]], fields: dict[str, Any]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out: list[bytes] = []
    for k, v in fields.items():
        text = ("true" if v else "false") if isinstance(v, bool) else str(v)
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{text}\r\n'.encode())
    for i, (field, img) in enumerate(files):
        if isinstance(img, bytes):
            data, name = img, f"{field}{i}"
        else:
            data, name = Path(img).read_bytes(), Path(img).name.replace('"', "%22")
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"
