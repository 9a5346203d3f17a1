"""The cluster review routes against a real server on 127.0.0.1 (--cluster-unknown): unknown faces of uploads
form clusters incrementally; list (paged, largest first, thumbnails), merge, split, move, "not this person" (kept by
the next run), name; retention and erasure drop the faces kept from uploads."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from serve_helpers import Server

from faceprint.client import ApiError

pytestmark = pytest.mark.slow


def _sizes(client) -> list[int]:  # type: ignore[no-untyped-def]
    return [c["size"] for c in client.clusters()["clusters"]]


def test_cluster_routes_over_http(tmp_path: Path, lfw_subset: Path) -> None:
    from PIL import Image

    from faceprint.cluster.saved import SavedClusters
    from faceprint.gallery.store import Gallery as Store

    blair = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[:4]
    powell = sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[:3]
    gallery = tmp_path / "g.sqlite"
    server = Server("--gallery", str(gallery), "--cluster-unknown")
    try:
        c = server.client()
        assert c.clusters()["clusters"] == [] and c.clusters()["total"] == 0
        for p in blair + powell:  # nobody enrolled: every face is UNKNOWN and joins the clusters
            assert all(f["unknown"] for f in c.identify(p)["faces"])
        page = c.clusters()
        assert page["total"] >= 2 and page["method"] == "agglomerative"
        sizes = [x["size"] for x in page["clusters"]]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] >= 3  # largest first
        big, second = page["clusters"][0], page["clusters"][1]
        one = c.clusters(limit=1, faces=2)
        assert len(one["clusters"]) == 1 and len(one["clusters"][0]["faces"]) == min(2, big["size"]) and one["next_offset"] == 1
        # thumbnails: the crop kept with each face of an upload
        face = big["faces"][0]
        assert face["source"].startswith("upload:") and face["created"] is not None
        jpeg = server.client().request("GET", face["image"], raw=True)
        assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
        assert c.cluster(big["id"], limit=1)["total"] == big["size"]

        # merge, split
        merged = c.merge_clusters([big["id"], second["id"]])
        assert merged == {"cluster": big["id"], "size": big["size"] + second["size"], "previous": None}
        moved_ids = [f["id"] for f in second["faces"]]
        split = c.split_cluster(big["id"], moved_ids)
        assert split["size"] == len(moved_ids) and split["previous"] == big["id"]
        new_id = split["cluster"]

        # move a face between clusters, then back
        f0 = big["faces"][0]["id"]
        assert c.move_cluster_face(f0, cluster=new_id)["previous"] == big["id"]
        assert f0 in [f["id"] for f in c.cluster(new_id)["faces"]]

        # not this person: the face leaves its cluster and the next upload's run keeps it apart
        out = c.not_this_person(f0)
        assert out["previous"] == new_id and f0 not in [f["id"] for f in c.cluster(new_id)["faces"]]
        c.identify(blair[0])  # the same photo again: nothing new (already stored), the neighbourhood is not reclustered
        c.identify(sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[5])  # a new photo of him: its cluster is run again
        with Store(gallery) as st:
            saved = SavedClusters.load(st, c.models()["model"])
            assert saved is not None
            where = {f.id: f.cluster for f in saved.faces}
            assert where[f0] is None or where[f0] != where[moved_ids[0]]  # the cannot-link held through the run

        # errors: unknown ids are 404, a bad body is 422
        for call in (lambda: c.merge_clusters([999, 998]), lambda: c.not_this_person(99999),
                     lambda: c.cluster(12345), lambda: c.move_cluster_face(f0, cluster=4242)):
            with pytest.raises(ApiError) as exc:
                call()
            assert (exc.value.status, exc.value.code) == (404, "unknown_cluster")
        for body in ({"clusters": [1]}, {"clusters": "1,2"}, {"clusters": [1, 1]}, {"clusters": [1, 2], "x": 1}):
            with pytest.raises(ApiError) as exc:
                c.request("POST", "/v1/clusters/merge", json_body=body)
            assert exc.value.status == 422, body
        with pytest.raises(ApiError) as exc:
            c.request("POST", f"/v1/clusters/faces/{f0}/move", json_body={"cluster": new_id, "person": "X"})
        assert exc.value.status == 422
        home = c.cluster(new_id)["faces"][0]["id"]  # a valid request the clusters' state refuses: 409, not 422
        with pytest.raises(ApiError) as exc:
            c.move_cluster_face(home, cluster=new_id)
        assert (exc.value.status, exc.value.code) == (409, "conflict")

        # name a cluster: its faces are enrolled (with their crops) and the same photos are then named
        target = c.clusters()["clusters"][0]
        named = c.name_cluster(target["id"], "  Person A ")
        assert named["person"] == "Person A" and len(named["enrolled"]) + len(named["skipped"]) == target["size"]
        assert named["enrolled"] and c.face_image(named["enrolled"][0]["id"])[:2] == b"\xff\xd8"
        assert target["id"] not in [x["id"] for x in c.clusters()["clusters"]]
        # move a face to a person
        rest = c.clusters()["clusters"]
        to_b = bool(rest)
        if to_b:
            fid = rest[0]["faces"][0]["id"]
            c.move_cluster_face(fid, person="Person B")
            assert len(c.person("Person B")["faces"]) == 1

        # retention run by another process while the server runs: the faces and their crops are gone from its answers
        from faceprint.gallery.erasure import expire_cluster_faces

        shown = c.clusters()
        face_url = shown["clusters"][0]["faces"][0]["image"] if shown["clusters"] else None
        with Store(gallery) as st:
            n_kept = len(SavedClusters.load(st, c.models()["model"]).faces)  # type: ignore[union-attr]
            expired = expire_cluster_faces(st, time.time() + 1, cache_folder=tmp_path / "cache")
            assert n_kept > 0 and expired is not None and expired.cluster_faces == n_kept
        assert c.clusters()["total"] == 0 and c.clusters()["alone"] == 0
        if face_url is not None:
            with pytest.raises(ApiError) as exc:
                c.request("GET", face_url, raw=True)
            assert exc.value.code == "unknown_cluster"
        assert c.identify(blair[1])["faces"][0]["person"] == "Person A"  # named now: not kept
        assert c.clusters()["alone"] == 0
        assert c.identify(sorted((lfw_subset / "Hugo_Chavez").glob("*.jpg"))[0])["faces"][0]["unknown"]
        assert c.clusters()["alone"] == 1  # a stranger is kept, alone until someone like him comes
    finally:
        server.stop()

    from faceprint.gallery.audit import records

    with Store(gallery) as st:
        enrolled = [r for r in records(st, action="enroll")]
        assert [r.people for r in enrolled] == [("Person A",)] + [("Person B",)] * to_b and enrolled[0].actor == "anonymous"


def test_unknown_faces_are_not_kept_by_default(tmp_path: Path, lfw_subset: Path) -> None:
    server = Server("--gallery", str(tmp_path / "g.sqlite"))
    try:
        c = server.client()
        assert c.identify(sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[0])["faces"][0]["unknown"]
        assert c.clusters()["total"] == 0 and c.clusters()["alone"] == 0
    finally:
        server.stop()


def test_clusters_of_several_galleries(tmp_path: Path, lfw_subset: Path) -> None:
    """--galleries: each gallery keeps its own clusters, under /v1/galleries/<name>/clusters."""
    blair = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[:2]
    server = Server("--galleries", str(tmp_path / "gs"), "--cluster-unknown")
    try:
        staff, guests = server.client(gallery="staff"), server.client(gallery="guests")
        staff.enroll("Colin Powell", sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[:1])
        for p in blair:
            assert staff.identify(p)["faces"][0]["unknown"]
        page = staff.clusters()
        assert page["total"] == 1 and page["clusters"][0]["size"] == 2
        assert page["clusters"][0]["faces"][0]["image"].startswith("/v1/galleries/staff/clusters/faces/")
        assert staff.request("GET", page["clusters"][0]["faces"][0]["image"], raw=True)[:2] == b"\xff\xd8"
        with pytest.raises(ApiError) as exc:
            guests.clusters()
        assert exc.value.code == "unknown_gallery"
    finally:
        server.stop()
