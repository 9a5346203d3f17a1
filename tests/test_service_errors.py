"""The one table from faceprint's errors to HTTP answers (the routes' own codes are tested over HTTP)."""

from __future__ import annotations

import pytest

from faceprint.errors import (
    EmptyGallery,
    FaceprintError,
    GalleryError,
    GalleryLocked,
    GalleryUnavailable,
    ImageError,
    MissingExtra,
    ModelNotInGallery,
    NoFaceFound,
    UnknownModel,
    UnknownPerson,
    VideoError,
)
from faceprint.service.errors import ERROR_CODES, HttpError, api_error_for, envelope


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (NoFaceFound("a.jpg"), 400, "no_face"),
        (ImageError("a.jpg", "truncated"), 400, "invalid_image"),
        (UnknownModel("model", "nope", ["dlib-resnet-v1"]), 422, "invalid_parameter"),
        (UnknownPerson("no person named 'x'"), 404, "unknown_person"),
        (GalleryLocked("locked"), 503, "gallery_locked"),
        (GalleryUnavailable("postgresql://secret@db:5432/g: cannot be reached"), 503, "gallery_unavailable"),
        (ModelNotInGallery("other model"), 409, "model_not_in_gallery"),
        (EmptyGallery("empty"), 409, "model_not_in_gallery"),
        (GalleryError("corrupt /secret/path.sqlite"), 500, "internal_error"),
        (FaceprintError("anything else"), 500, "internal_error"),
        (VideoError("/secret/clip.mp4", "corrupt", 12), 400, "invalid_video"),
        (MissingExtra("av", "video"), 501, "video_unavailable"),
    ],
)
def test_library_errors_map_to_one_status_each(exc: FaceprintError, status: int, code: str) -> None:
    err = api_error_for(exc)
    assert (err.status, err.code) == (status, code)
    if status == 500 or code in ("invalid_video", "gallery_unavailable"):
        assert "secret" not in err.message  # internals stay in the server log
    if code == "gallery_locked":
        assert err.headers == {"Retry-After": "1"}


def test_codes_and_envelope() -> None:
    assert all(400 <= status < 600 for status, _ in ERROR_CODES.values())
    assert {s for s, _ in ERROR_CODES.values()} >= {400, 401, 403, 404, 409, 413, 415, 422, 429, 503}
    assert envelope("busy", "later") == {"error": {"code": "busy", "message": "later"}}
    with pytest.raises(ValueError):
        HttpError("no_such_code", "x")
