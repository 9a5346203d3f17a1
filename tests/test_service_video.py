"""`POST /v1/video` over real HTTP: clips built from LFW photos (faceprint.video.scenes) sent to a `faceprint serve`
process on an ephemeral 127.0.0.1 port; its tracks are checked against the clip's truth and against
`faceprint.video.recognize` on the same clip and gallery; corrupt clips, still photos and the clip limits get the
service's error envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("av")
pytest.importorskip("scipy")

from typer.testing import CliRunner  # noqa: E402

import faceprint  # noqa: E402
from faceprint.cli.app import app  # noqa: E402
from faceprint.client import ApiError, Client  # noqa: E402
from faceprint.service.errors import ERROR_CODES  # noqa: E402
from faceprint.video import recognize  # noqa: E402
from faceprint.video.scenes import Actor, Scene, face_photo, write_scene  # noqa: E402
from serve_helpers import Server  # noqa: E402

pytestmark = pytest.mark.slow

FPS = 25
DETECT_EVERY = 5
SLACK_S = 2 * DETECT_EVERY / FPS
"""Track spans may differ from the truth by up to two detection steps (see tests/test_video.py)."""
TRACK_FIELDS = {"track_id", "person", "unknown", "confidence", "first_s", "last_s", "frames", "best_frame", "closest",
                "distance", "first_frame", "last_frame", "recognitions", "conflict_with"}
MAX_FRAMES = 60


def photo_of(lfw: Path, name: str, i: int) -> Path:
    return lfw / name / f"{name}_{i:04d}.jpg"


@pytest.fixture(scope="module")
def clips(lfw_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`pair`: George W. Bush (enrolled, from another photo than his enrolled ones) beside Hugo Chavez (a stranger)
    for 2 s; `long`: the same for more frames than the server takes; `cut`: `pair` truncated; `noise`: no video."""
    tmp = tmp_path_factory.mktemp("clips")
    actors = [
        Actor("George_W_Bush", face_photo(photo_of(lfw_subset, "George_W_Bush", 8)), [(0, 80, 120, 100), (2, 90, 120, 100)]),
        Actor(None, face_photo(photo_of(lfw_subset, "Hugo_Chavez", 1)), [(0, 240, 120, 100), (2, 230, 120, 100)]),
    ]
    out = {"pair": tmp / "pair.mp4", "long": tmp / "long.mp4", "cut": tmp / "cut.mp4", "noise": tmp / "noise.mp4"}
    write_scene(Scene(320, 240, FPS, 2.0, actors), out["pair"])
    write_scene(Scene(64, 48, FPS, (MAX_FRAMES + 10) / FPS, []), out["long"])
    data = out["pair"].read_bytes()
    out["cut"].write_bytes(data[: int(len(data) * 0.7)])  # the MP4 index is at the front: the first frames decode
    out["noise"].write_bytes(bytes(range(256)) * 64)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lfw_subset: Path):
    """One gallery with Bush enrolled; requests to /video may be 2 MB, to every other route 0.2 MB."""
    tmp = tmp_path_factory.mktemp("serve-video")
    s = Server("--gallery", str(tmp / "people.sqlite"), "--max-body-mb", "0.2", "--max-video-mb", "2",
               "--max-video-frames", str(MAX_FRAMES), home=tmp / "home")
    s.gallery_path = tmp / "people.sqlite"  # type: ignore[attr-defined]
    report = s.client().enroll("George_W_Bush", [photo_of(lfw_subset, "George_W_Bush", i) for i in range(1, 6)])
    assert len(report["enrolled"]) >= 4, report
    yield s
    s.stop()


def _err(call) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as exc:
        call()
    assert ERROR_CODES[exc.value.code][0] == exc.value.status
    return exc.value.status, exc.value.code, exc.value.message


def test_video_answers_the_tracks_named_and_unknown(server: Server, clips: dict[str, Path]) -> None:
    client = server.client()
    answer = client.video(clips["pair"], detect_every=DETECT_EVERY)
    assert answer["frames"] == 2 * FPS and answer["fps"] == FPS and (answer["width"], answer["height"]) == (320, 240)
    tracks = answer["tracks"]
    assert len(tracks) == 2, tracks
    assert all(set(t) == TRACK_FIELDS for t in tracks)
    by_person = {t["person"]: t for t in tracks}
    assert set(by_person) == {"George_W_Bush", None}
    bush, stranger = by_person["George_W_Bush"], by_person[None]
    assert not bush["unknown"] and bush["confidence"] > 0.5
    assert stranger["unknown"] and stranger["closest"] == "George_W_Bush"  # the only one enrolled
    for t in tracks:
        assert t["first_s"] <= SLACK_S and t["last_s"] >= 2.0 - 1 / FPS - SLACK_S, t
        assert t["frames"] >= 2 * FPS - 2 * DETECT_EVERY and t["first_frame"] <= t["best_frame"] <= t["last_frame"]
    assert answer["recognitions"] == sum(t["recognitions"] for t in tracks) < answer["frames"]

    # The same clip through the library on the same gallery file (and the service's detector): the same tracks.
    from faceprint.detect import DEFAULT_DETECTOR
    from faceprint.video import video_detector

    with faceprint.Gallery(server.gallery_path) as g:  # type: ignore[attr-defined]
        ended = [e.track for e in recognize(clips["pair"], g, detect_every=DETECT_EVERY,
                                            detector=video_detector(DEFAULT_DETECTOR)) if e.kind == "ended"]
    assert tracks == [t.to_dict() for t in sorted(ended, key=lambda t: (t.first_frame, t.track_id))]

    # Options reach the recogniser: detecting on every frame embeds the same tracks' faces, at least as many
    every = client.video(clips["pair"], detect_every=1, recheck_every=0.5)
    assert sorted(str(t["person"]) for t in every["tracks"]) == ["George_W_Bush", "None"]
    assert all(t["frames"] >= 2 * FPS - 2 for t in every["tracks"])
    # ... and a threshold of 0 names nobody.
    strict = client.video(clips["pair"], threshold=0.0)
    assert [t["person"] for t in strict["tracks"]] == [None, None] and all(t["unknown"] for t in strict["tracks"])


def test_not_a_video_corrupt_and_bad_options(server: Server, clips: dict[str, Path], lfw_subset: Path) -> None:
    client = server.client()
    status, code, msg = _err(lambda: client.video(clips["cut"]))
    assert (status, code) == (400, "invalid_video") and "cut.mp4" in msg and "at frame" in msg
    frame = int(msg.rsplit("at frame", 1)[1].split()[0].strip("."))
    assert 0 < frame < 2 * FPS
    assert "/tmp" not in msg and "faceprint-video-" not in msg  # the server's temporary path is not shown
    status, code, msg = _err(lambda: client.video(clips["noise"]))
    assert (status, code) == (400, "invalid_video") and "noise.mp4" in msg
    status, code, msg = _err(lambda: client.video(photo_of(lfw_subset, "Tony_Blair", 1)))
    assert (status, code) == (400, "invalid_video") and "still image" in msg
    assert _err(lambda: client.request("POST", "/v1/video", files=[]))[:2] == (422, "missing_field")
    assert _err(lambda: client.video(clips["pair"], detect_every=0))[:2] == (422, "invalid_parameter")
    assert _err(lambda: client.video(clips["pair"], far=1.0))[:2] == (422, "invalid_parameter")  # a share of strangers
    assert _err(lambda: client.request("POST", "/v1/video", files=[("file", clips["pair"])],
                                       fields={"recheck_every": "soon"}))[:2] == (422, "invalid_parameter")
    status, code, _ = _err(lambda: client.request("POST", "/v1/video", json_body={"image": "AAAA"}))
    assert (status, code) == (415, "unsupported_media_type")
    with pytest.raises(ApiError) as exc:
        client.video(clips["noise"])
    assert exc.value.status == 400  # (the envelope again: code and message, never a traceback)
    assert "Traceback" not in exc.value.message


def test_clip_limits(server: Server, clips: dict[str, Path]) -> None:
    client = server.client()
    status, code, msg = _err(lambda: client.video(clips["long"]))
    assert (status, code) == (413, "video_too_large") and f"{MAX_FRAMES + 10}" in msg and f"{MAX_FRAMES}" in msg
    big = clips["pair"].read_bytes() + b"\0" * (2 * 1024 * 1024)
    status, code, msg = _err(lambda: client.video(big))
    assert (status, code) == (413, "video_too_large") and "2,097,152" in msg
    # The clip limit is the /video routes' own: a body that /video takes is too large for /identify.
    mid = b"\0" * (300 * 1024)
    assert _err(lambda: client.identify(mid))[:2] == (413, "body_too_large")
    assert _err(lambda: client.video(mid))[:2] == (400, "invalid_video")


def test_galleries_route_and_read_scope(tmp_path: Path, clips: dict[str, Path], lfw_subset: Path) -> None:
    folder = tmp_path / "galleries"
    folder.mkdir()

    def key(scope: str) -> str:
        res = CliRunner().invoke(app, ["keys", "create", "--galleries", str(folder), "--scope", scope, "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)["key"]

    read, write = key("read"), key("write")
    s = Server("--galleries", str(folder), home=tmp_path / "home")
    try:
        w = Client(s.url, write, gallery="door", timeout=60)
        assert len(w.enroll("George_W_Bush", [photo_of(lfw_subset, "George_W_Bush", i) for i in range(1, 6)])["enrolled"]) >= 4
        r = Client(s.url, read, gallery="door", timeout=60)
        tracks = r.video(clips["pair"])["tracks"]
        assert sorted(str(t["person"]) for t in tracks) == ["George_W_Bush", "None"]
        assert _err(lambda: Client(s.url, None, gallery="door").video(clips["pair"]))[:2] == (401, "unauthorized")
        hall = Client(s.url, write, gallery="hall", timeout=60)
        hall.enroll("Tony_Blair", photo_of(lfw_subset, "Tony_Blair", 2))  # _0001 has a second, cut-off face (YuNet)
        hall.remove("Tony_Blair")  # the gallery exists and is empty
        status, code, msg = _err(lambda: hall.video(clips["pair"]))
        assert (status, code) == (409, "model_not_in_gallery") and "empty" in msg and str(folder) not in msg
        assert _err(lambda: Client(s.url, read, gallery="lobby").video(clips["pair"]))[:2] == (404, "unknown_gallery")
        assert _err(lambda: Client(s.url, read).request("POST", "/v1/video", files=[("file", clips["pair"])]))[:2] == (404, "not_found")
    finally:
        s.stop()
