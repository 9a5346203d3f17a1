"""The /v1 routes. Inference runs in the bounded pool; gallery reads and writes in worker threads.

Gallery routes live at ``/v1/...`` for a server of one gallery, and at ``/v1/galleries/{gallery}/...`` for a
server of a folder of galleries (``--galleries DIR``); the handlers are the same.
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
import threading
import time
from pathlib import PurePath
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import faceprint
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.errors import EmptyGallery, FaceprintError, ModelNotInGallery, UnknownPerson, VideoError
from faceprint.image import image_size
from faceprint.models import list_models
from faceprint.recognize.open_set import DEFAULT_FAR
from faceprint.recognize.score_law import check_far
from faceprint.service import schemas
from faceprint.service.auth import require
from faceprint.service.config import Limits
from faceprint.service.errors import HttpError
from faceprint.service.inputs import RequestData, Upload, check_pixels, read_request
from faceprint.service.keys import SCOPES, ApiKey
from faceprint.service.state import ServiceState

if TYPE_CHECKING:
    from faceprint.video.source import FileSource

__all__ = ["inference_router", "gallery_router", "admin_router"]

FaceId = Annotated[int, Path(ge=1, le=2**63 - 1, description="an enrolled face's id")]

log = logging.getLogger(__name__)

_IMAGE_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}, "file1": {"type": "string", "format": "binary"},
                "file2": {"type": "string", "format": "binary"},
                "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                "threshold": {"type": "number"}, "far": {"type": "number"}, "top_k": {"type": "integer"}, "largest": {"type": "boolean"}}}},
            "application/json": {"schema": {"type": "object", "properties": {
                "image": {"type": "string", "description": "base64"}, "image1": {"type": "string"},
                "image2": {"type": "string"}, "images": {"type": "array", "items": {"type": "string"}},
                "threshold": {"type": "number"}, "far": {"type": "number"}, "top_k": {"type": "integer"}, "largest": {"type": "boolean"}}}},
        }
    }
}


_VIDEO_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "description": "a video clip (MP4, MKV, WebM, AVI...)"},
                "detect_every": {"type": "integer", "minimum": 1, "maximum": 100},
                "recheck_every": {"type": "number", "description": "seconds"}, "far": {"type": "number"}, "threshold": {"type": "number"}}}},
        }
    }
}


def _state(request: Request) -> ServiceState:
    return request.app.state.fp


async def _read(request: Request, unreadable_ok: bool = False) -> RequestData:
    st = _state(request)
    data = await read_request(request, st.config.limits.max_files)
    for uploads in data.files.values():
        for u in uploads:
            check_pixels(u, st.config.limits.max_pixels, unreadable_ok)
    return data


# -- inference: no gallery -------------------------------------------------------------------------------------

inference_router = APIRouter(prefix="/v1", tags=["inference"])


@inference_router.get("/models", response_model=schemas.ModelsOut)
async def models(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """The pipeline this server runs (model, detector, thresholds) and every model faceprint knows."""
    a = _state(request).analyzer
    spec = a.embedder.spec  # type: ignore[union-attr]
    return {
        "model": a.model, "detector": a.detector.name, "dim": spec.embedding_dim, "metric": spec.metric,  # type: ignore[union-attr]
        "threshold": spec.threshold, "open_set_threshold": spec.open_set_threshold, "available": list_models(),
    }


@inference_router.post("/detect", response_model=schemas.DetectOut, openapi_extra=_IMAGE_BODY)
async def detect(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Every face in `file` (or JSON `image`), largest first: box (x1, y1, x2, y2 pixels), score, five landmarks."""
    st = _state(request)
    data = await _read(request)
    up, largest = data.one("file"), data.boolean("largest", False)
    faces = await st.pool.run(lambda: faceprint.detect(up.file(), analyzer=st.analyzer))
    return {"faces": [f.to_dict() for f in faces[: 1 if largest else None]]}


@inference_router.post("/embed", response_model=schemas.EmbedOut, openapi_extra=_IMAGE_BODY)
async def embed(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Every face in `file` with its `embedding` and the `model` that made it."""
    st = _state(request)
    data = await _read(request)
    up, largest = data.one("file"), data.boolean("largest", False)
    faces = await st.pool.run(lambda: faceprint.embed(up.file(), analyzer=st.analyzer))
    return {"faces": [f.to_dict() for f in faces[: 1 if largest else None]], "model": st.analyzer.model}  # type: ignore[union-attr]


@inference_router.post("/verify", response_model=schemas.VerifyOut, openapi_extra=_IMAGE_BODY)
async def verify(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Whether the largest faces of `file1` and `file2` are the same person (400 no_face when one has none)."""
    st = _state(request)
    data = await _read(request)
    a, b = data.one("file1"), data.one("file2")
    thr = data.number("threshold")
    v = await st.pool.run(lambda: faceprint.verify(a.file(), b.file(), threshold=thr, analyzer=st.analyzer))
    return {
        "same": v.same, "distance": round(v.distance, 6), "threshold": v.threshold, "model": v.model,
        "faces": [v.face1.face.to_dict(), v.face2.face.to_dict()],
    }


# -- galleries ---------------------------------------------------------------------------------------------------


def gallery_router(multi: bool) -> APIRouter:
    """The routes over one gallery, under /v1 or, with several galleries, /v1/galleries/{gallery}."""
    router = APIRouter(prefix="/v1/galleries/{gallery}" if multi else "/v1", tags=["gallery"])
    param = [{"name": "gallery", "in": "path", "required": True, "schema": {"type": "string"}}] if multi else []

    def add(path: str, fn: Any, method: str, body: bool = False, **kw: Any) -> None:
        extra = {**(_IMAGE_BODY if body else {}), **({"parameters": param} if param else {})}
        router.add_api_route(path, fn, methods=[method], openapi_extra=extra or None, **kw)

    add("/identify", identify, "POST", True, response_model=schemas.IdentifyOut)
    router.add_api_route("/video", video, methods=["POST"], response_model=schemas.VideoOut,
                         openapi_extra={**_VIDEO_BODY, **({"parameters": param} if param else {})})
    add("/people", people, "GET", response_model=schemas.PeopleOut)
    add("/people/{name}", person, "GET", response_model=schemas.PersonOut)
    add("/people/{name}/faces", enroll, "POST", True, response_model=schemas.EnrollOut)
    add("/people/{name}", rename, "PATCH", response_model=schemas.RenameOut)
    add("/people/{name}", remove_person, "DELETE", response_model=schemas.RemovedOut)
    add("/faces/{face_id}", remove_face, "DELETE", response_model=schemas.RemovedOut)
    add("/faces/{face_id}/image", face_image, "GET", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    return router


def _gallery(request: Request) -> str | None:
    return request.path_params.get("gallery")


def _image_url(request: Request, face_id: int) -> str:
    g = _gallery(request)
    return f"/v1/galleries/{g}/faces/{face_id}/image" if g is not None else f"/v1/faces/{face_id}/image"


def _far(data: RequestData) -> float:
    """The `far` option: the share of strangers the caller accepts being named (default 1%)."""
    try:
        return check_far(data.number("far", DEFAULT_FAR))  # type: ignore[arg-type]  (a default is given)
    except ValueError as exc:
        raise HttpError("invalid_parameter", str(exc)) from None


async def identify(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Every face in `file`, largest first: `person` (null when UNKNOWN), `unknown`, `closest`, `distance`, `score`,
    `confidence` and the `top_k` nearest `candidates`, by the same open-set rule as `faceprint identify`: the
    threshold names a share `far` (default 1%) of strangers at the gallery's size, unless `threshold` is given; the
    response says which threshold, on which score, and the share of strangers it is expected to name."""
    st = _state(request)
    data = await _read(request)
    up = data.one("file")
    thr = data.number("threshold")
    far = _far(data)
    top_k = data.integer("top_k", 3, 1, st.config.limits.max_top_k)
    largest = data.boolean("largest", False)
    name = _gallery(request)

    def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        g = st.hub.open(name)  # type: ignore[union-attr]
        try:
            for _ in range(3):  # the operating point the faces were decided at, even if someone enrols meanwhile
                point = g.operating_point(far=far, threshold=thr)
                results = g.identify(up.file(), far=far, threshold=thr, top_k=top_k)
                if g.operating_point(far=far, threshold=thr) is point:
                    break
            said = {"threshold": point.threshold, "threshold_applies_to": point.score_name(),
                    "expected_stranger_rate": point.stranger_rate}
            return [{k: v for k, v in r.to_dict().items() if k not in ("image", "error")} for r in results], said
        except ModelNotInGallery:
            raise
        except EmptyGallery:  # nobody enrolled yet: every face is UNKNOWN, and resembles nobody
            faces = faceprint.detect(up.file(), analyzer=st.analyzer)
            return [
                {"box": [round(v, 1) for v in f.box], "person": None, "unknown": True, "closest": None,
                 "distance": None, "score": None, "confidence": None, "candidates": []}
                for f in faces
            ], {"threshold": None, "threshold_applies_to": None, "expected_stranger_rate": None}

    faces, said = await st.pool.run(run)
    return {"faces": faces[: 1 if largest else None], "model": st.analyzer.model, **said}  # type: ignore[union-attr]


_video_detectors = threading.local()
"""One video detector per inference thread (built at its first clip, then reused)."""


async def video(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """The face tracks of the clip in multipart `file`, each recognised once as `faceprint video` does:
    `track_id`, `person` (null when UNKNOWN), `unknown`, `confidence`, `first_s`, `last_s`, `frames`, `best_frame`
    and the rest of a tracks.jsonl line. Options: `detect_every` (frames), `recheck_every` (seconds), `far` (the share
    of strangers that may be named, default 1%) or `threshold`."""
    st = _state(request)
    data = await read_request(request, 1)
    if data.is_json:
        raise HttpError("unsupported_media_type", "send the clip as multipart/form-data field 'file'")
    up = data.one("file")
    detect_every = data.integer("detect_every", 5, 1, 100)
    recheck_every = data.number("recheck_every", 2.0, minimum=0.01)
    thr = data.number("threshold")
    far = _far(data)
    name, limits = _gallery(request), st.config.limits
    try:  # a still photo opens as a one-frame "video"; say what it is instead
        image_size(up.data)
        raise HttpError("invalid_video", f"{up.name}: a still image, not a video (send photos to /identify)")
    except FaceprintError:
        pass

    def run() -> dict[str, Any]:
        from faceprint.video import VideoRecognizer, video_detector
        from faceprint.video.source import FileSource

        deadline = time.monotonic() + limits.timeout
        suffix = PurePath(up.name).suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", PurePath(up.name).suffix) else ""
        with tempfile.TemporaryDirectory(prefix="faceprint-video-") as tmp:
            path = PurePath(tmp, f"clip{suffix}")
            with open(path, "wb") as fp:
                fp.write(up.data)
            try:
                src = FileSource(path)
            except VideoError as exc:
                raise HttpError("invalid_video", f"{up.name}: {exc.reason}") from None
            with src:
                _check_clip(up.name, src, limits)
                det = getattr(_video_detectors, "detector", None)
                if det is None:
                    det = _video_detectors.detector = video_detector(st.config.detector or DEFAULT_DETECTOR)
                try:
                    rec = VideoRecognizer(st.hub.open(name), src.fps, detect_every=detect_every,  # type: ignore[union-attr]
                                          recheck_every_s=recheck_every, far=far, threshold=thr, detector=det)
                except EmptyGallery:  # (the library's message names the gallery's path on the server)
                    raise HttpError("model_not_in_gallery", "the gallery is empty: enrol people before sending clips") from None
                last = None
                try:
                    for frame in src:
                        if frame.index >= limits.max_video_frames:
                            raise HttpError("video_too_large", f"{up.name}: more than {limits.max_video_frames:,} frames, "
                                                              "this server's limit")
                        if time.monotonic() > deadline:  # the client has had its 503 timeout: stop the work too
                            raise HttpError("timeout", f"the request took longer than {limits.timeout:g} s", {"Retry-After": "1"})
                        rec.process(frame)
                        last = frame
                except VideoError as exc:
                    raise HttpError("invalid_video", f"{up.name}: {exc.reason} at frame {exc.frame}") from None
                rec.finish(last)
                tracks = sorted(rec.tracks, key=lambda t: (t.first_frame, t.track_id))
                return {
                    "tracks": [t.to_dict() for t in tracks], "frames": rec.frames, "fps": round(src.fps, 3),
                    "width": src.width, "height": src.height, "recognitions": rec.recognitions,
                    "model": st.analyzer.model,  # type: ignore[union-attr]
                }

    return await st.pool.run(run)


def _check_clip(label: str, src: FileSource, limits: Limits) -> None:
    """413 video_too_large when the clip's header declares more frames, or larger frames, than the server takes."""
    if src.width * src.height > limits.max_pixels:
        raise HttpError("video_too_large", f"{label}: {src.width} x {src.height} frames, above this server's limit of "
                                          f"{limits.max_pixels:,} pixels")
    if src.frame_count is not None and src.frame_count > limits.max_video_frames:
        raise HttpError("video_too_large", f"{label}: {src.frame_count:,} frames, above this server's limit of "
                                          f"{limits.max_video_frames:,}")


async def people(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Everyone enrolled, by name, with their number of faces."""
    st, name = _state(request), _gallery(request)
    found = await run_in_threadpool(lambda: st.hub.open(name).people())  # type: ignore[union-attr]
    return {"people": [{"name": p.name, "faces": p.n_faces, "models": list(p.models)} for p in found]}


async def person(request: Request, name: str, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """One person's enrolled faces, each with its id and the URL of its image."""
    st, gname = _state(request), _gallery(request)
    faces = await run_in_threadpool(lambda: st.hub.open(gname).faces(name))  # type: ignore[union-attr]
    return {"name": name, "faces": [
        {"id": f.id, "source": f.source, "box": [round(v, 1) for v in f.face.box] if f.face else None,
         "score": round(f.face.score, 4) if f.face else None, "created": f.created, "models": list(f.models),
         "image": _image_url(request, f.id)}
        for f in faces
    ]}


def _crop_jpeg(upload: Upload, box: tuple[float, float, float, float] | None) -> bytes:
    """The enrolled face with a margin, at most 256 px a side, as JPEG: what GET /faces/{id}/image returns."""
    from PIL import Image

    img = faceprint.load_image(upload.data)
    h, w = img.shape[:2]
    if box is not None:
        x1, y1, x2, y2 = box
        m = 0.25 * max(x2 - x1, y2 - y1)
        x1, y1, x2, y2 = (int(max(0, x1 - m)), int(max(0, y1 - m)), int(min(w, x2 + m)), int(min(h, y2 + m)))
        if x2 > x1 and y2 > y1:
            img = img[y1:y2, x1:x2]
    pil = Image.fromarray(img)
    pil.thumbnail((256, 256))
    out = io.BytesIO()
    pil.save(out, format="JPEG", quality=88)
    return out.getvalue()


async def enroll(request: Request, name: str, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Enrol `files` (or `file`, or JSON `images`/`image`) as `name` (created when new). Each photo must show one
    face (`largest=true` takes the largest of several); the answer lists what was enrolled and what was skipped,
    each with its reason."""
    import hashlib

    st, gname = _state(request), _gallery(request)
    data = await _read(request, unreadable_ok=True)
    uploads = data.images("files", "file")
    if not uploads:
        raise HttpError("missing_field", "send the photos as multipart field 'files' (or 'file'), or JSON 'images' (or 'image')")
    if not name.strip():
        raise HttpError("invalid_parameter", "a person's name cannot be empty")
    several = "largest" if data.boolean("largest", False) else "skip"

    def run() -> dict[str, Any]:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            report = g.enroll(name, [u.file() for u in uploads], several=several)
            by_name = {u.source: u for u in uploads}
            records = {f.sha256: f for f in g.faces(name)} if report.added else {}
            enrolled = []
            for label in [lbl for _, lbl in report.added]:
                u = by_name[label]
                rec = records[hashlib.sha256(u.data).hexdigest()]
                box = rec.face.box if rec.face else None
                g.store.put_face_image(rec.id, _crop_jpeg(u, box), {"person": name, "content_type": "image/jpeg"})
                enrolled.append({"id": rec.id, "source": label, "box": [round(v, 1) for v in box] if box else None,
                                 "image": _image_url(request, rec.id)})
        skipped = [{"source": src, "reason": reason, "detail": detail}
                   for reason, items in report.skipped.items() for src, detail in items]
        order = {u.source: i for i, u in enumerate(uploads)}
        skipped.sort(key=lambda s: order.get(s["source"], 0))
        return {"person": name, "enrolled": enrolled, "skipped": skipped}

    return await st.pool.run(run)


async def rename(request: Request, name: str, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Rename a person: body ``{"name": "new name"}`` (409 conflict when the new name is taken)."""
    st, gname = _state(request), _gallery(request)
    new = (await read_request(request, 0)).text("name")

    def run() -> None:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            g.store.person_id(name)  # 404 first
            if any(p.name == new for p in g.people()):
                raise HttpError("conflict", f"cannot rename {name!r}: {new!r} is already enrolled")
            g.rename(name, new)

    await run_in_threadpool(run)
    return {"name": new, "previous": name}


async def remove_person(request: Request, name: str, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Remove a person with all their faces and the faces' stored images."""
    st, gname = _state(request), _gallery(request)

    def run() -> int:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            return g.remove(name)  # the store removes the faces' stored images with them

    return {"removed": name, "faces": await run_in_threadpool(run)}


async def remove_face(request: Request, face_id: FaceId, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Remove one enrolled face (and its image) by id."""
    st, gname = _state(request), _gallery(request)

    def run() -> None:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            try:
                g.remove_face(face_id)
            except UnknownPerson:
                raise HttpError("unknown_face", f"no face with id {face_id}") from None

    await run_in_threadpool(run)
    return {"removed": face_id, "faces": 1}


async def face_image(request: Request, face_id: FaceId, key: ApiKey | None = Depends(require("read"))) -> Response:
    """The enrolled face's crop (JPEG): stored at enrolment, or cut from the source file for faces enrolled with
    the CLI."""
    st, gname = _state(request), _gallery(request)

    def run() -> bytes:
        g = st.hub.open(gname)  # type: ignore[union-attr]
        crop = g.store.face_image(face_id)
        if crop is not None:
            return crop
        rec = next((f for f in g.faces() if f.id == face_id), None)
        if rec is None:
            raise HttpError("unknown_face", f"no face with id {face_id}")
        if rec.source.startswith("upload:"):  # an upload whose crop was not stored (the server died in between)
            raise HttpError("no_image", f"face {face_id} has no stored image")
        try:
            with open(rec.source, "rb") as fp:
                data = fp.read()
            return _crop_jpeg(Upload(rec.source, data), rec.face.box if rec.face else None)
        except (OSError, faceprint.FaceprintError):
            raise HttpError("no_image", f"face {face_id} has no stored image and its source {rec.source!r} cannot be read") from None

    return Response(await run_in_threadpool(run), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


# -- administration --------------------------------------------------------------------------------------------

admin_router = APIRouter(prefix="/v1", tags=["admin"])


@admin_router.get("/galleries", response_model=schemas.GalleriesOut)
async def galleries(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """The galleries of this server's folder (--galleries); a key bound to one gallery sees that one."""
    st = _state(request)
    if not st.config.multi:
        raise HttpError("not_found", "this server holds one gallery; its routes are /v1/people, /v1/identify, ...")
    names = st.hub.names()  # type: ignore[union-attr]
    return {"galleries": [n for n in names if key is None or key.gallery in (None, n)]}


@admin_router.get("/keys", response_model=schemas.KeysOut)
async def list_keys(request: Request, key: ApiKey | None = Depends(require("admin"))) -> dict[str, Any]:
    """Every key (never the keys themselves); a key bound to a gallery sees the keys of that gallery."""
    found = await run_in_threadpool(_state(request).keys.list)
    return {"keys": [k.to_dict() for k in found if key is None or key.gallery in (None, k.gallery)]}


@admin_router.post("/keys", response_model=schemas.NewKeyOut, status_code=201)
async def create_key(request: Request, key: ApiKey | None = Depends(require("admin"))) -> dict[str, Any]:
    """A new key, shown once: body ``{"scope": "read|write|admin", "gallery": NAME, "label": TEXT}``."""
    st = _state(request)
    data = await read_request(request, 0)
    scope = data.text("scope")
    if scope not in SCOPES:
        raise HttpError("invalid_parameter", f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    gallery = data.values.get("gallery")
    if gallery is not None and (not isinstance(gallery, str) or not st.config.multi):
        raise HttpError("invalid_parameter", "gallery binds a key to one gallery of a --galleries server")
    if key is not None and key.gallery is not None:
        if gallery not in (None, key.gallery):
            raise HttpError("forbidden", f"key {key.id} opens gallery {key.gallery!r} only")
        gallery = key.gallery
    label = data.values.get("label", "")
    if not isinstance(label, str):
        raise HttpError("invalid_parameter", "label must be a string")
    try:
        secret, rec = await run_in_threadpool(st.keys.create, scope, gallery, label)
    except faceprint.FaceprintError as exc:
        raise HttpError("invalid_parameter", str(exc)) from None
    return {"key": secret, "id": rec.id, "scope": rec.scope, "gallery": rec.gallery}


@admin_router.delete("/keys/{key_id}", response_model=schemas.KeyOut)
async def revoke_key(request: Request, key_id: str, key: ApiKey | None = Depends(require("admin"))) -> dict[str, Any]:
    """Revoke a key by id."""
    st = _state(request)
    found = {k.id: k for k in await run_in_threadpool(st.keys.list)}
    if key_id not in found or (key is not None and key.gallery not in (None, found[key_id].gallery)):
        raise HttpError("unknown_key", f"no key with id {key_id!r}")
    return (await run_in_threadpool(st.keys.revoke, key_id)).to_dict()
