"""The inference routes: detect, embed and verify (no gallery), identify and video (over a gallery).

Inference runs in the bounded pool. Gallery routes live at ``/v1/...`` for a server of one gallery, and at
``/v1/galleries/{gallery}/...`` for a server of a folder of galleries (``--galleries DIR``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Depends, Request

import faceprint
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.errors import EmptyGallery, FaceprintError, ModelNotInGallery, VideoError, VideoTooLarge
from faceprint.image import image_size
from faceprint.models import list_models
from faceprint.recognize.open_set import OpenSetThreshold
from faceprint.service import schemas
from faceprint.service.auth import require
from faceprint.service.errors import HttpError
from faceprint.service.keys import ApiKey
from faceprint.service.routes._common import body_ref, far_option, gallery_name, read_body, state

__all__ = ["inference_router", "identify", "video", "confidence_meaning"]

log = logging.getLogger(__name__)

inference_router = APIRouter(prefix="/v1", tags=["inference"])


@inference_router.get("/models", response_model=schemas.ModelsOut)
async def models(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """The pipeline this server runs (model, detector, thresholds), every model faceprint knows, and this server's
    request limits (a client enrolling many photos sends them in requests within these)."""
    a, lim = state(request).analyzer, state(request).config.limits
    spec = a.embedder.spec  # type: ignore[union-attr]
    return {
        "model": a.model, "detector": a.detector.name, "dim": spec.embedding_dim, "metric": spec.metric,  # type: ignore[union-attr]
        "threshold": spec.threshold, "open_set_threshold": spec.open_set_threshold, "available": list_models(),
        "limits": {"max_files": lim.max_files, "max_body": lim.max_body, "max_pixels": lim.max_pixels, "max_top_k": lim.max_top_k},
    }


@inference_router.post("/detect", response_model=schemas.DetectOut, openapi_extra=body_ref("detect"))
async def detect(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Every face in `file` (or JSON `image`), largest first: box (x1, y1, x2, y2 pixels), score, five landmarks."""
    return {"faces": await _faces(request, "detect", faceprint.detect)}


@inference_router.post("/embed", response_model=schemas.EmbedOut, openapi_extra=body_ref("embed"))
async def embed(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Every face in `file` with its `embedding` and the `model` that made it."""
    return {"faces": await _faces(request, "embed", faceprint.embed), "model": state(request).analyzer.model}  # type: ignore[union-attr]


async def _faces(request: Request, route: str, find: Callable[..., list[Any]]) -> list[dict[str, Any]]:
    """The faces `find` (faceprint.detect or embed) returns for the request's one image, in the pool; only the
    largest with ``largest`` on."""
    st = state(request)
    data = await read_body(request, route)
    up, largest = data.one("file"), data.boolean("largest", False)
    faces = await st.pool.run(lambda: find(up.file(), analyzer=st.analyzer))
    return [f.to_dict() for f in faces[: 1 if largest else None]]


@inference_router.post("/verify", response_model=schemas.VerifyOut, openapi_extra=body_ref("verify"))
async def verify(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Whether the largest faces of `file1` and `file2` are the same person (400 no_face when one has none)."""
    st = state(request)
    data = await read_body(request, "verify")
    a, b = data.one("file1"), data.one("file2")
    thr = data.number("threshold")
    v = await st.pool.run(lambda: faceprint.verify(a.file(), b.file(), threshold=thr, analyzer=st.analyzer))
    return {
        "same": v.same, "distance": round(v.distance, 6), "threshold": v.threshold, "model": v.model,
        "faces": [v.face1.face.to_dict(), v.face2.face.to_dict()],
    }


def keep_unknown_faces(st: Any, gallery: str | None, img: Any, faces: list[Any], photo: bytes) -> int:
    """The operator's --cluster-unknown: unknown faces of an upload that pass the clustering quality rule join the
    gallery's stored clusters (crop, embedding, photo hash and time; faceprint.cluster.review). A failure to keep
    them is logged and does not fail the identification. Returns how many were kept."""
    from faceprint.cluster.quality import QualityRule, sharpness
    from faceprint.cluster.review import keep_unknown
    from faceprint.service.routes.people import crop_array_jpeg

    rule = QualityRule()
    good = [f for f in faces if rule.reason(f, sharpness(img, f)) is None]
    if not good:
        return 0
    a = st.analyzer
    vectors = a.embed_faces(img, good).vectors
    try:
        with st.hub.writing(gallery) as g:
            keep_unknown(g.store, a.model, a.embedder.spec.metric,
                         [(f, v, crop_array_jpeg(img, f.box, 128)) for f, v in zip(good, vectors)], hashlib.sha256(photo).hexdigest())
    except FaceprintError as exc:
        log.warning("unknown faces of an upload not kept for clustering: %s", exc)
        return 0
    return len(good)


def confidence_meaning(point: OpenSetThreshold | None) -> str | None:
    """What a face's `confidence` means at this operating point: the sentence the response and the page show."""
    if point is None:
        return None
    if point.score_law is not None:
        return ("the probability that the face is `closest`, calibrated on LFW for a gallery of this size; it does not "
                "depend on the threshold. A face is named only when its score passes the threshold set by `far` (the "
                "share of strangers that may be named), so an UNKNOWN face can carry a high confidence: it resembles "
                "`closest`, but not closely enough to be named at that share of strangers.")
    return ("how clearly the distance lies on the same-person side of the threshold in use: a logistic curve of the "
            "distance fitted on LFW pairs and pinned at 50% at that threshold (above 50%: named, below: UNKNOWN). It "
            "moves with the threshold you give, so it is not a probability that the face is `closest`.")


async def identify(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """Every face in `file`, largest first: `person` (null when UNKNOWN), `unknown`, `closest`, `distance`, `score`,
    `confidence` and the `top_k` nearest `candidates`, by the same open-set rule as `faceprint identify`: the
    threshold names a share `far` (default 1%) of strangers at the gallery's size, unless `threshold` is given; the
    response says which threshold, on which score, the share of strangers it is expected to name, and what
    `confidence` means at that operating point (`confidence_meaning`). On a server run with --cluster-unknown, the
    UNKNOWN faces (good enough to cluster) are kept in the gallery's stored clusters for review (/clusters)."""
    st = state(request)
    data = await read_body(request, "identify")
    up = data.one("file")
    thr = data.number("threshold")
    far = far_option(data)
    top_k = data.integer("top_k", 3, 1, st.config.limits.max_top_k)
    largest = data.boolean("largest", False)
    name = gallery_name(request)

    keep = st.config.cluster_unknown

    def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        g = st.hub.open(name)  # type: ignore[union-attr]
        img: Any = None
        found: Any = None
        if keep:  # detect here, so that the unknown faces can be kept (keep_unknown_faces)
            img = st.analyzer.load(up.file())  # type: ignore[union-attr]
            found = st.analyzer.detector.detect(img)  # type: ignore[union-attr]
        try:
            for _ in range(3):  # the operating point the faces were decided at, even if someone enrols meanwhile
                point = g.operating_point(far=far, threshold=thr)
                results = (g.identify_faces(img, found, far=far, threshold=thr, top_k=top_k, label=up.name) if keep
                           else g.identify(up.file(), far=far, threshold=thr, top_k=top_k))
                if g.operating_point(far=far, threshold=thr) is point:
                    break
            said = {"threshold": point.threshold, "threshold_applies_to": point.score_name(),
                    "expected_stranger_rate": point.stranger_rate, "confidence_meaning": confidence_meaning(point)}
            if keep:
                shown = list(zip(found, results))[: 1 if largest else None]  # type: ignore[arg-type]
                keep_unknown_faces(st, name, img, [f for f, r in shown if r.person is None], up.data)
            return [{k: v for k, v in r.to_dict().items() if k not in ("image", "error")} for r in results], said
        except ModelNotInGallery:
            raise
        except EmptyGallery:  # nobody enrolled yet: every face is UNKNOWN, and resembles nobody
            faces = found if keep else faceprint.detect(up.file(), analyzer=st.analyzer)
            if keep:
                keep_unknown_faces(st, name, img, faces[: 1 if largest else None], up.data)
            return [
                {"box": [round(v, 1) for v in f.box], "person": None, "unknown": True, "closest": None,
                 "distance": None, "score": None, "confidence": None, "candidates": []}
                for f in faces
            ], {"threshold": None, "threshold_applies_to": None, "expected_stranger_rate": None, "confidence_meaning": None}

    faces, said = await st.pool.run(run)
    return {"faces": faces[: 1 if largest else None], "model": st.analyzer.model, **said}  # type: ignore[union-attr]


_video_detectors = threading.local()
"""One video detector per inference thread (built at its first clip, then reused)."""


async def video(request: Request, key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """The face tracks of the clip in multipart `file`, each recognised once as `faceprint video` does:
    `track_id`, `person` (null when UNKNOWN), `unknown`, `confidence`, `first_s`, `last_s`, `frames`, `best_frame`
    and the rest of a tracks.jsonl line. Options: `detect_every` (frames), `recheck_every` (seconds), `far` (the share
    of strangers that may be named, default 1%) or `threshold`."""
    from faceprint.video import video_detector
    from faceprint.video.clip import recognize_clip

    st = state(request)
    data = await read_body(request, "video")
    up = data.one("file")
    detect_every = data.integer("detect_every", 5, 1, 100)
    recheck_every = data.number("recheck_every", 2.0, minimum=0.01)
    thr = data.number("threshold")
    far = far_option(data)
    name, limits = gallery_name(request), st.config.limits
    try:  # a still photo opens as a one-frame "video"; say what it is instead
        image_size(up.data)
        raise HttpError("invalid_video", f"{up.name}: a still image, not a video (send photos to /identify)")
    except FaceprintError:
        pass

    def run() -> dict[str, Any]:
        deadline = time.monotonic() + limits.timeout
        suffix = PurePath(up.name).suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", PurePath(up.name).suffix) else ""
        with tempfile.TemporaryDirectory(prefix="faceprint-video-") as tmp:
            path = PurePath(tmp, f"clip{suffix}")
            with open(path, "wb") as fp:
                fp.write(up.data)
            det = getattr(_video_detectors, "detector", None)
            if det is None:
                det = _video_detectors.detector = video_detector(st.config.detector or DEFAULT_DETECTOR)
            try:
                clip = recognize_clip(path, st.hub.open(name), label=up.name, detector=det,  # type: ignore[union-attr]
                                      detect_every=detect_every, recheck_every_s=recheck_every, far=far, threshold=thr,
                                      max_frames=limits.max_video_frames, max_pixels=limits.max_pixels, deadline=deadline)
            except EmptyGallery:  # (the library's message names the gallery's path on the server)
                raise HttpError("model_not_in_gallery", "the gallery is empty: enrol people before sending clips") from None
            except VideoTooLarge:
                raise
            except VideoError as exc:
                where = f" at frame {exc.frame}" if exc.frame is not None else ""
                raise HttpError("invalid_video", f"{up.name}: {exc.reason}{where}") from None
            return {**clip.to_dict(), "model": st.analyzer.model}  # type: ignore[union-attr]

    return await st.pool.run(run)
