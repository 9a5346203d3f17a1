"""Every request that touches a gallery leaves a row in its audit log: the gallery routes are read from the running
server's OpenAPI, each is called once over HTTP with a key, and each call must add a record naming that key, with
the people it concerned and its result. A gallery route this test does not know how to call fails it, so a new
route cannot go unaudited unnoticed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import faceprint
from faceprint.errors import ApiError
from faceprint.gallery.audit import records


@pytest.mark.slow
def test_every_gallery_route_leaves_an_audit_record(tmp_path: Path, lfw_subset: Path) -> None:
    pytest.importorskip("fastapi")
    from serve_helpers import Server
    from test_audit import cli

    blair = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[1:4]  # _0001: a second, cut-off face for YuNet
    powell = sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[:3]
    gallery = tmp_path / "g.sqlite"
    faceprint.gallery.Gallery(gallery).close()
    admin = json.loads(cli("keys", "create", "--gallery", gallery, "--scope", "admin", "--json"))
    server = Server("--gallery", str(gallery), "--cluster-unknown", home=tmp_path / "home")
    try:
        c = server.client(admin["key"])
        spec = c.request("GET", "/openapi.json")
        routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m, op in ops.items()
                  if "gallery" in op.get("tags", [])}
        c.enroll("Tony", blair[:2])
        for p in powell:  # unknown: kept in the stored clusters
            c.identify(p)
        clusters = c.clusters()["clusters"]
        assert clusters, "no cluster of the unknown faces"
        cid = clusters[0]["id"]
        cface = clusters[0]["faces"][0]["id"]
        tony = [f["id"] for f in c.person("Tony")["faces"]]

        calls: list[tuple[tuple[str, str], Any]] = [  # in an order where each call finds what it needs
            (("GET", "/v1/people"), lambda: c.people()),
            (("GET", "/v1/people/{name}"), lambda: c.person("Tony")),
            (("GET", "/v1/faces/{face_id}/image"), lambda: c.face_image(tony[0])),
            (("POST", "/v1/identify"), lambda: c.identify(blair[2])),
            (("POST", "/v1/video"), lambda: c.video(blair[2])),  # a still photo: refused (invalid_video), recorded
            (("GET", "/v1/clusters"), lambda: c.clusters()),
            (("GET", "/v1/clusters/{cluster_id}"), lambda: c.cluster(cid)),
            (("GET", "/v1/clusters/faces/{face_id}/image"), lambda: c.cluster_face_image(cface)),
            (("POST", "/v1/clusters/merge"), lambda: c.merge_clusters([cid, cid + 1000])),  # unknown_cluster
            (("POST", "/v1/clusters/{cluster_id}/split"), lambda: c.split_cluster(cid, [cface])),
            (("POST", "/v1/clusters/faces/{face_id}/not-this-person"), lambda: c.not_this_person(cface)),
            (("POST", "/v1/clusters/faces/{face_id}/move"), lambda: c.move_cluster_face(cface, person="Tony")),
            (("POST", "/v1/clusters/{cluster_id}/name"), lambda: c.name_cluster(cid, "Colin")),
            (("POST", "/v1/people/{name}/faces"), lambda: c.enroll("Tony", blair[2])),
            (("PATCH", "/v1/people/{name}"), lambda: c.rename("Tony", "Tony B.")),
            (("DELETE", "/v1/faces/{face_id}"), lambda: c.remove_face(tony[0])),
            (("DELETE", "/v1/people/{name}"), lambda: c.remove("Tony B.")),
        ]
        assert {k for k, _ in calls} == routes, f"gallery routes this test does not call: {routes - {k for k, _ in calls}}"
        seen: dict[tuple[str, str], list[tuple[str, str, tuple[str, ...], str]]] = {}
        for route, call in calls:
            with faceprint.gallery.Gallery(gallery) as g:
                before = len(records(g))
            try:
                call()
                status = "ok"
            except ApiError as exc:
                status = exc.code
            with faceprint.gallery.Gallery(gallery) as g:
                new = records(g)[before:]
            seen[route] = [(r.actor, r.action, r.people, r.result) for r in new]
            assert new, f"{route} left no audit record"
            assert all(r.actor == f"key:{admin['id']}" for r in new), (route, seen[route])
            assert status == "ok" or any(r.result == status for r in new), (route, status, seen[route])
    finally:
        server.stop()
    print("\n".join(f"{m} {p}: {seen[(m, p)]}" for m, p in sorted(seen)))
    assert seen[("GET", "/v1/people")] == [(f"key:{admin['id']}", "read", ("Tony",), "ok")]
    assert seen[("GET", "/v1/faces/{face_id}/image")][0][1:] == ("read", ("Tony",), "ok")
    assert seen[("POST", "/v1/identify")][0][1:3] == ("identify", ("Tony",))
    assert seen[("POST", "/v1/video")][0][1:] == ("identify", (), "invalid_video")
    assert seen[("POST", "/v1/clusters/merge")][0][1:] == ("cluster-edit", (), "unknown_cluster")
    moved = seen[("POST", "/v1/clusters/faces/{face_id}/move")]  # to a person: enrolled (and recorded) as theirs
    assert [r[1:3] for r in moved] == [("enroll", ("Tony",)), ("cluster-edit", ())], moved
    assert seen[("POST", "/v1/clusters/{cluster_id}/name")][-1][1:] == ("cluster-edit", ("Colin",), "ok")
