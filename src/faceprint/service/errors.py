"""The HTTP side of errors: one table from faceprint's typed errors to status codes, and the JSON envelope.

Every error answer has the body ``{"error": {"code": "...", "message": "..."}}``; never a traceback. The codes are
listed in ERROR_CODES (and in the README), each with its HTTP status.
"""

from __future__ import annotations

from faceprint.errors import (
    DeadlineExceeded,
    EmptyGallery,
    FaceprintError,
    GalleryError,
    GalleryLocked,
    GalleryUnavailable,
    ImageError,
    ImageTooLarge,
    InvalidName,
    MissingExtra,
    ModelNotInGallery,
    NoFaceFound,
    UnknownCluster,
    UnknownModel,
    UnknownPerson,
    VideoError,
    VideoTooLarge,
)

__all__ = ["HttpError", "ERROR_CODES", "api_error_for", "envelope"]

ERROR_CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "the body is not valid JSON, multipart or base64"),
    "invalid_image": (400, "an uploaded file is not a readable image"),
    "invalid_video": (400, "an uploaded clip is not a readable video, or breaks off (the message names the frame)"),
    "no_face": (400, "no face found where one is required (verify)"),
    "unauthorized": (401, "no API key, or an unknown or revoked one"),
    "forbidden": (403, "the key's scope or gallery does not allow this route"),
    "not_found": (404, "no such route"),
    "unknown_person": (404, "no person of that name in the gallery"),
    "unknown_face": (404, "no face with that id in the gallery"),
    "unknown_cluster": (404, "no stored cluster (or clustered face) with that id"),
    "unknown_gallery": (404, "no gallery of that name (--galleries)"),
    "unknown_key": (404, "no API key with that id"),
    "no_image": (404, "the face has no stored image (enrolled outside the service, from a file now gone)"),
    "method_not_allowed": (405, "the route exists but not with this method"),
    "conflict": (409, "the name is already taken (rename); a key revoking itself or the last admin key; a cluster edit the clusters' state refuses"),
    "model_not_in_gallery": (409, "the gallery holds faces of another model only"),
    "body_too_large": (413, "the request body is above --max-body-mb"),
    "image_too_large": (413, "an image has more pixels than --max-pixels"),
    "too_many_files": (413, "more files in one request than --max-files"),
    "video_too_large": (413, "a clip is above --max-video-mb, has more frames than --max-video-frames or more pixels per frame than --max-pixels"),
    "unsupported_media_type": (415, "send multipart/form-data or application/json"),
    "missing_field": (422, "a required field (file, file1, file2, files, image, name...) is missing"),
    "invalid_parameter": (422, "a parameter has the wrong type or value (booleans are true/false only)"),
    "rate_limited": (429, "this key sent more requests than --rate-limit allows; see Retry-After"),
    "internal_error": (500, "a bug: the message says no more, the server log has the details"),
    "video_unavailable": (501, "this server lacks the video extra (pip install 'faceprint[video]')"),
    "not_ready": (503, "the models are still loading; see Retry-After"),
    "busy": (503, "the inference queue is full (--queue); see Retry-After"),
    "timeout": (503, "the request took longer than --timeout"),
    "gallery_locked": (503, "the gallery file is locked by another process; see Retry-After"),
    "gallery_unavailable": (503, "the gallery's database server (PostgreSQL) cannot be reached; see Retry-After"),
}
"""code -> (HTTP status, when it is sent)."""


class HttpError(Exception):
    """An answer with an error status: raised anywhere in the service, turned into the envelope by the app.

    Not a library error (those live in faceprint.errors and reach here through api_error_for): it is the service's
    own control flow, as FastAPI's HTTPException is."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code][0]


def api_error_for(exc: FaceprintError) -> HttpError:
    """The HTTP answer to a library error: the one place that maps faceprint's errors to codes."""
    msg = str(exc)
    if isinstance(exc, NoFaceFound):
        return HttpError("no_face", msg)
    if isinstance(exc, ImageTooLarge):
        return HttpError("image_too_large", msg)
    if isinstance(exc, ImageError):
        return HttpError("invalid_image", msg)
    if isinstance(exc, VideoTooLarge):
        return HttpError("video_too_large", f"{exc.source}: {exc.reason} (this server's limit)")
    if isinstance(exc, DeadlineExceeded):
        return HttpError("timeout", f"the request ran past this server's --timeout and was stopped ({msg})", {"Retry-After": "1"})
    if isinstance(exc, InvalidName):
        return HttpError("invalid_parameter", msg)
    if isinstance(exc, VideoError):
        return HttpError("invalid_video", f"{exc.reason}{'' if exc.frame is None else f' at frame {exc.frame}'}")
    if isinstance(exc, MissingExtra) and exc.extra == "video":
        return HttpError("video_unavailable", msg)
    if isinstance(exc, UnknownModel):
        return HttpError("invalid_parameter", msg)
    if isinstance(exc, UnknownCluster):
        return HttpError("unknown_cluster", msg)
    if isinstance(exc, UnknownPerson):
        return HttpError("unknown_person", msg)
    if isinstance(exc, GalleryUnavailable):
        # the message would name the database's host and user: those stay in the server log
        return HttpError("gallery_unavailable", "the gallery's database cannot be reached; try again shortly", {"Retry-After": "2"})
    if isinstance(exc, GalleryLocked):
        return HttpError("gallery_locked", msg, {"Retry-After": "1"})
    if isinstance(exc, ModelNotInGallery):
        return HttpError("model_not_in_gallery", msg)
    if isinstance(exc, EmptyGallery):
        return HttpError("model_not_in_gallery", msg)
    if isinstance(exc, GalleryError):
        return HttpError("internal_error", "the gallery database failed; see the server log")
    return HttpError("internal_error", "internal error; the server log has the details")


def envelope(code: str, message: str) -> dict[str, dict[str, str]]:
    """The body of every error answer."""
    return {"error": {"code": code, "message": message}}
