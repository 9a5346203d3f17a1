"""The stored clusters of a gallery, for review: list them (paged, largest first), page through one cluster's
faces and show each face's crop, name a cluster (its faces are enrolled as a person), merge, split, move a face to
another cluster or to a person, and "not this person" (a cannot-link that later runs keep).

The clusters are the gallery's stored ones (faceprint.cluster.SavedClusters of the server's model): made by
`faceprint cluster DIR --gallery G`, and grown by the unknown faces of /identify uploads when the server runs
with ``--cluster-unknown`` (faceprint.cluster.review). Reads run in worker threads; edits hold the gallery's write
lock, load the clusters, change them and store them in one go.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import faceprint
from faceprint.cluster.review import (
    enrol_faces,
    face_crop,
    move_face,
    not_this_person,
    saved_face,
    take_face,
)
from faceprint.cluster.saved import SavedClusters, SavedFace
from faceprint.errors import FaceprintError, GalleryError, UnknownPerson
from faceprint.names import MAX_NAME_LENGTH
from faceprint.service import schemas
from faceprint.service.auth import require
from faceprint.service.errors import HttpError
from faceprint.service.inputs import RequestData, Upload, read_request
from faceprint.service.keys import ApiKey
from faceprint.service.routes._common import (
    gallery_name,
    image_url,
    new_name,
    state,
)

__all__ = ["MAX_IDS", "add_cluster_routes"]

MAX_ID = 2**63 - 1
MAX_IDS = 1000
"""The most ids one merge or split names."""
MAX_PAGE = 500
ClusterId = Annotated[int, Path(ge=1, le=MAX_ID, description="a stored cluster's id")]
ClusterFaceId = Annotated[int, Path(ge=1, le=MAX_ID, description="a clustered face's id (not an enrolled face's)")]
Offset = Annotated[int, Query(ge=0, le=2**31, description="how many items to skip (paging)")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"how many items to return, at most {MAX_PAGE}")]
FacesShown = Annotated[int, Query(ge=0, le=100, description="how many faces to list with each cluster")]


def _ids_schema(what: str, least: int) -> dict[str, Any]:
    return {"type": "array", "minItems": least, "maxItems": MAX_IDS, "uniqueItems": True,
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "description": what}


def _json_body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": required, "additionalProperties": False, "properties": props}}}}


_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "x-faceprint-name": True,
         "description": "a person's name (enrolled or new; same rule as the people routes')"}
NAME_BODY = _json_body({"name": _NAME}, ["name"])
MERGE_BODY = _json_body({"clusters": _ids_schema("two or more cluster ids; they become the first one", 2)}, ["clusters"])
SPLIT_BODY = _json_body({"faces": _ids_schema("ids of the cluster's faces that move to a new cluster", 1)}, ["faces"])
MOVE_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {"cluster": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "the cluster to move the face to"},
                   "person": {**_NAME, "description": "the person to enrol the face as (it leaves the clusters)"}},
    "oneOf": [{"required": ["cluster"], "not": {"required": ["person"]}},
              {"required": ["person"], "not": {"required": ["cluster"]}}]}}}}


def add_cluster_routes(router: APIRouter, add: Any) -> None:
    """Add the routes to a gallery router; `add(path, handler, method, **kw)` adds one (with the gallery parameter)."""
    add("/clusters", clusters, "GET", audit="read", response_model=schemas.ClustersOut)
    add("/clusters/merge", merge, "POST", audit="cluster-edit", request_body=MERGE_BODY, response_model=schemas.ClusterEditOut)
    add("/clusters/{cluster_id}", cluster, "GET", audit="read", response_model=schemas.ClusterFacesOut)
    add("/clusters/{cluster_id}/name", name_cluster, "POST", audit="cluster-edit", request_body=NAME_BODY, response_model=schemas.ClusterNamedOut)
    add("/clusters/{cluster_id}/split", split, "POST", audit="cluster-edit", request_body=SPLIT_BODY, response_model=schemas.ClusterEditOut)
    add("/clusters/faces/{face_id}/move", move, "POST", audit="cluster-edit", request_body=MOVE_BODY, response_model=schemas.ClusterEditOut)
    add("/clusters/faces/{face_id}/not-this-person", reject, "POST", audit="cluster-edit", response_model=schemas.ClusterEditOut)
    add("/clusters/faces/{face_id}/image", cluster_face_image, "GET", audit="read", response_class=Response,
        responses={200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "description": "JPEG"}})


# -- helpers ----------------------------------------------------------------------------------------------------

def _model(request: Request) -> str:
    return state(request).analyzer.model  # type: ignore[union-attr]


def _load(request: Request) -> SavedClusters | None:
    """The stored clusters of the server's model (None when there are none), read outside the write lock. Kept
    while the gallery's change token stays (it moves with every write to the gallery, by any process: an erasure
    or a retention run included), so a page of thumbnails parses the clusters once. Readers never change it."""
    st, gname, model = state(request), gallery_name(request), _model(request)
    store = st.hub.open(gname).store  # type: ignore[union-attr]
    token = store.change_token()
    held = st.clusters.get((gname, model))
    if held is not None and held[0] == token:
        return held[1]  # type: ignore[return-value]
    saved = SavedClusters.load(store, model)
    st.clusters[(gname, model)] = (token, saved)
    return saved


def _edit(request: Request, change: Callable[[Any, SavedClusters], dict[str, Any]]) -> Any:
    """Run `change(store, clusters)` under the gallery's write lock and store the clusters it changed."""
    st, gname = state(request), gallery_name(request)

    def run() -> dict[str, Any]:
        with st.hub.writing(gname) as g:  # type: ignore[union-attr]
            saved = SavedClusters.load(g.store, _model(request))
            if saved is None:
                raise HttpError("unknown_cluster", "this gallery holds no clusters of this server's model yet")
            try:
                out = change(g.store, saved)
            except GalleryError:
                raise
            except UnknownPerson:
                raise
            except FaceprintError as exc:  # an edit the clusters' state refuses (a move to the face's own cluster,
                # a split that empties it, not-this-person for a face in no cluster): the request itself was valid
                raise HttpError("conflict", str(exc)) from None
            saved.save(g.store)
            return out

    return run_in_threadpool(run)


def _face_url(request: Request, face_id: int) -> str:
    g = gallery_name(request)
    return f"/v1/galleries/{g}/clusters/faces/{face_id}/image" if g is not None else f"/v1/clusters/faces/{face_id}/image"


def _face_out(request: Request, saved: SavedClusters, f: SavedFace) -> dict[str, Any]:
    created = saved.extras.get(f.id, {}).get("created")
    return {"id": f.id, "source": f.image, "box": [round(float(v), 1) for v in f.face.box],
            "image": _face_url(request, f.id), "created": float(created) if created is not None else None}  # type: ignore[arg-type]


def _page(total: int, offset: int, limit: int) -> dict[str, Any]:
    nxt = offset + limit
    return {"total": total, "offset": offset, "limit": limit, "next_offset": nxt if nxt < total else None}


def _body(data: RequestData, allowed: set[str]) -> None:
    extra = sorted(set(data.values) - allowed)
    if extra or data.files:
        raise HttpError("invalid_parameter", f"this route takes only {', '.join(sorted(allowed))}, not "
                                             f"{', '.join(map(repr, extra or sorted(data.files)))}")


def _id(v: object, what: str) -> int:
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():  # JSON's 3.0 is the integer 3
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_ID:
        raise HttpError("invalid_parameter", f"{what} must be a positive integer id, got {v!r}")
    return v


def _ids(data: RequestData, field: str, least: int) -> list[int]:
    if field not in data.values:
        raise HttpError("missing_field", f"the field {field!r} is required")
    v = data.values[field]
    if not isinstance(v, list) or not least <= len(v) <= MAX_IDS:
        raise HttpError("invalid_parameter", f"{field} must be a list of {least} to {MAX_IDS} ids, got {v!r}")
    ids = [_id(x, f"each of {field}") for x in v]
    if len(set(ids)) != len(ids):
        raise HttpError("invalid_parameter", f"{field} names an id twice")
    return ids


async def _json(request: Request, allowed: set[str]) -> RequestData:
    data = await read_request(request, 0)
    _body(data, allowed)
    return data


# -- reading ----------------------------------------------------------------------------------------------------

async def clusters(request: Request, offset: Offset = 0, limit: Limit = 50, faces: FacesShown = 12,
                   key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """The stored clusters of this server's model, largest first (ties: older first), each with its first `faces`
    faces: a page of `limit` clusters from `offset`. `alone` counts faces in no cluster. No clusters yet: an empty
    list (`faceprint cluster DIR --gallery G` makes them; so do uploads on a server run with --cluster-unknown)."""
    saved = await run_in_threadpool(lambda: _load(request))
    if saved is None:
        return {"model": _model(request), "method": None, "threshold": None, "alone": 0, "clusters": [], **_page(0, offset, limit)}
    found = list(saved.clusters().items())
    return {"model": saved.model, "method": saved.method, "threshold": saved.threshold, "alone": len(saved.alone()),
            "clusters": [{"id": cid, "size": len(members), "faces": [_face_out(request, saved, f) for f in members[:faces]]}
                         for cid, members in found[offset: offset + limit]],
            **_page(len(found), offset, limit)}


async def cluster(request: Request, cluster_id: ClusterId, offset: Offset = 0, limit: Limit = 100,
                  key: ApiKey | None = Depends(require("read"))) -> dict[str, Any]:
    """One cluster's faces, a page of `limit` from `offset` (404 unknown_cluster when there is no such cluster)."""
    saved = await run_in_threadpool(lambda: _load(request))
    if saved is None:
        raise HttpError("unknown_cluster", "this gallery holds no clusters of this server's model yet")
    members = saved.cluster(cluster_id)
    return {"id": cluster_id, "size": len(members), "faces": [_face_out(request, saved, f) for f in members[offset: offset + limit]],
            **_page(len(members), offset, limit)}


async def cluster_face_image(request: Request, face_id: ClusterFaceId, key: ApiKey | None = Depends(require("read"))) -> Response:
    """A clustered face's crop (JPEG): the one kept with a face of an upload, or cut from the photo's file."""
    from faceprint.service.routes.people import crop_jpeg

    def run() -> bytes:
        saved = _load(request)
        if saved is None:
            raise HttpError("unknown_cluster", "this gallery holds no clusters of this server's model yet")
        _, f = saved_face(saved, face_id)
        crop = face_crop(saved, face_id)
        if crop is not None:
            return crop
        try:
            with open(f.image, "rb") as fp:
                return crop_jpeg(Upload(f.image, fp.read()), f.face.box)
        except (OSError, faceprint.FaceprintError):
            raise HttpError("no_image", f"clustered face {face_id}: its photo {f.image!r} cannot be read") from None

    return Response(await run_in_threadpool(run), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


# -- editing ----------------------------------------------------------------------------------------------------

def _enrolled(request: Request, store: Any, saved: SavedClusters, taken: list[tuple[SavedFace, Any]], name: str) -> dict[str, Any]:
    added, skipped, crops = enrol_faces(store, saved, taken, name)
    for fid, jpeg in crops.items():
        store.put_face_image(fid, jpeg, {"person": name, "content_type": "image/jpeg"})
    records = {r.id: r for r in store.faces(ids=added)} if added else {}
    return {"person": name,
            "enrolled": [{"id": fid, "source": records[fid].source if fid in records else "",
                          "box": [round(v, 1) for v in records[fid].face.box] if fid in records and records[fid].face else None,
                          "image": image_url(request, fid)} for fid in added],
            "skipped": [{"source": f"cluster face {cid}", "reason": "already enrolled", "detail": why} for cid, why in skipped]}


async def name_cluster(request: Request, cluster_id: ClusterId, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Enrol a cluster's faces as `name` (a new person, or more faces of an enrolled one); the cluster leaves the
    list. A face whose photo is enrolled already is skipped (and reported)."""
    data = await _json(request, {"name"})
    if "name" not in data.values:
        raise HttpError("missing_field", "the field 'name' is required")
    name = new_name(data.values["name"], "name")
    return await _edit(request, lambda store, saved: _enrolled(request, store, saved, saved.take(cluster_id), name))


async def merge(request: Request, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Merge clusters that are one person: body ``{"clusters": [7, 3, 12]}``; they become the first one."""
    ids = _ids(await _json(request, {"clusters"}), "clusters", 2)

    def change(store: Any, saved: SavedClusters) -> dict[str, Any]:
        target = saved.merge(ids)
        return {"cluster": target, "size": len(saved.cluster(target))}

    return await _edit(request, change)


async def split(request: Request, cluster_id: ClusterId, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Move some faces of a cluster into a new cluster: body ``{"faces": [ids]}`` (not all of them)."""
    ids = _ids(await _json(request, {"faces"}), "faces", 1)

    def change(store: Any, saved: SavedClusters) -> dict[str, Any]:
        new = saved.split(cluster_id, ids)
        return {"cluster": new, "size": len(saved.cluster(new)), "previous": cluster_id}

    return await _edit(request, change)


async def move(request: Request, face_id: ClusterFaceId, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """Move one face: ``{"cluster": id}`` puts it in another cluster (and records it as not the person of the one it
    leaves), ``{"person": name}`` enrols it as that person and takes it out of the clusters."""
    data = await _json(request, {"cluster", "person"})
    if ("cluster" in data.values) == ("person" in data.values):
        raise HttpError("missing_field" if not data.values else "invalid_parameter", "give 'cluster' or 'person' (one of them)")
    if "cluster" in data.values:
        target = _id(data.values["cluster"], "cluster")

        def to_cluster(store: Any, saved: SavedClusters) -> dict[str, Any]:
            left = move_face(saved, face_id, target)
            return {"cluster": target, "size": len(saved.cluster(target)), "previous": left}

        return await _edit(request, to_cluster)
    name = new_name(data.values["person"], "person")

    def to_person(store: Any, saved: SavedClusters) -> dict[str, Any]:
        left = saved_face(saved, face_id)[1].cluster
        out = _enrolled(request, store, saved, [take_face(saved, face_id)], name)
        if not out["enrolled"]:
            raise HttpError("conflict", f"clustered face {face_id}: {out['skipped'][0]['detail']}")
        return {"cluster": None, "size": 0, "previous": left}

    return await _edit(request, to_person)


async def reject(request: Request, face_id: ClusterFaceId, key: ApiKey | None = Depends(require("write"))) -> dict[str, Any]:
    """"Not this person": take a face out of its cluster and keep it apart from the faces left there in later
    clustering runs (a cannot-link). The face stays among the faces in no cluster."""
    await _json(request, set())

    def change(store: Any, saved: SavedClusters) -> dict[str, Any]:
        left = not_this_person(saved, face_id)
        members = saved.clusters().get(left, [])
        return {"cluster": left if members else None, "size": len(members), "previous": left}

    return await _edit(request, change)
