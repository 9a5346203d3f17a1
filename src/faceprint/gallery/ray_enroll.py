"""Enrolment on Ray (optional extra ``ray``): detection, alignment and embedding as Ray Data ``map_batches`` on
actors that each hold their own models; the driver writes to the gallery, in input order, one transaction per batch.

The driver does what must see the whole collection and the gallery: it reads and hashes every image (an image
already enrolled with this model, or seen earlier in this run, is skipped, as by the local engine, so a rerun after
an interruption continues where the last committed batch stopped), and it writes. The actors do the expensive
part. Output rows come back in input order (Ray Data's ``preserve_order``), so people and faces get the same ids
and the gallery equals the one the local engine (gallery/enroll.py) writes from the same folders.

With no address, a local Ray is started for the run (bound to 127.0.0.1, no dashboard) and shut down after it;
``address="auto"`` or ``"ray://HOST:PORT"`` joins an existing cluster, whose workers must see the same image paths.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from faceprint._extras import optional_module
from faceprint.detect import DEFAULT_DETECTOR
from faceprint.errors import AlreadyEnrolled, FaceprintError
from faceprint.gallery.audit import record_enrolment
from faceprint.gallery.enroll import EnrollReport, new_images
from faceprint.gallery.store import Gallery
from faceprint.models.identity import model_identity
from faceprint.types import Face

__all__ = ["enroll_ray", "FaceEmbedActor"]

log = logging.getLogger(__name__)


class FaceEmbedActor:
    """A Ray Data callable class: built once per actor (loads the detector and embedder), then called per batch.

    Input batch: columns ``i`` (input position) and ``path``. Output: ``i``, ``status`` ("ok", "no face",
    "several faces", "unreadable"), ``detail``, the face (``box``, ``score``, ``landmarks``; NaN when none) and
    ``vector`` (zeros when none).
    """

    def __init__(self, model: str, detector: str, several: str) -> None:
        from faceprint.analyzer import FaceAnalyzer

        self.analyzer = FaceAnalyzer(model=model, detector=detector)
        self.several = several

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from faceprint.pipeline import select_face

        a = self.analyzer
        n = len(batch["i"])
        status = np.full(n, "ok", dtype=object)
        detail = np.full(n, "", dtype=object)
        box = np.full((n, 4), np.nan, np.float64)
        score = np.full(n, np.nan, np.float64)
        lms = np.full((n, 10), np.nan, np.float64)
        crops, rows = [], []
        for r, path in enumerate(batch["path"]):
            path = str(path)
            try:
                image = a.load(Path(path).read_bytes(), name=path)
            except OSError as exc:
                status[r], detail[r] = "unreadable", exc.strerror or str(exc)
                continue
            except FaceprintError as exc:
                status[r], detail[r] = "unreadable", getattr(exc, "reason", str(exc))
                continue
            faces = a.detector.detect(image)
            if not faces:
                status[r] = "no face"
            elif len(faces) > 1 and self.several == "skip":
                status[r], detail[r] = "several faces", f"{len(faces)} faces; crop the photo or use --largest"
            else:
                face = select_face(faces, image.shape, "largest")
                box[r], score[r], lms[r] = face.box, face.score, np.ravel(face.landmarks)
                crops.append(a.embedder.align(image, face))
                rows.append(r)
        vectors = None
        if crops:
            emb = a.embedder.embed(np.stack(crops)).vectors
            vectors = np.zeros((n, emb.shape[1]), np.float32)
            vectors[rows] = emb
        else:
            vectors = np.zeros((n, a.embedder.spec.embedding_dim), np.float32)
        return {"i": np.asarray(batch["i"], np.int64), "status": status, "detail": detail, "box": box, "score": score,
                "landmarks": lms, "vector": vectors}


def enroll_ray(
    gallery: Gallery,
    items: Iterable[tuple[str, str | os.PathLike[str]]],
    model: str,
    detector: str = DEFAULT_DETECTOR,
    several: Literal["skip", "largest"] = "skip",
    batch_size: int = 16,
    address: str | None = None,
    actors: int | None = None,
    on_image: Callable[[str], None] | None = None,
) -> EnrollReport:
    """Enrol (person, image) pairs like `faceprint.gallery.enroll`, with the models running on Ray actors.

    Args:
        gallery: the gallery written to (by this process only).
        items: (person, image path) pairs, in the order to enrol them.
        model: the embedding model's (resolved) name; each actor builds its own FaceAnalyzer(model, detector).
        several: "skip" photos with several faces, or enrol the "largest".
        batch_size: images per map_batches call, and per gallery transaction.
        address: None starts a local Ray for this run (127.0.0.1 only) and stops it after; "auto" or
            "ray://HOST:PORT" joins a running cluster.
        actors: how many model-holding actors (default: one per CPU Ray reports, at most 8).
        on_image: called with each image path once it is done (progress).

    Returns:
        The same report as the local engine.
    """
    optional_module("ray.data", "ray[data]", "ray")
    ray = optional_module("ray", "ray[data]", "ray")
    report = EnrollReport()
    seen: dict[str, str] = {}
    todo: list[dict[str, Any]] = []
    meta: dict[int, tuple[str, str, str, str]] = {}
    for r in new_images(gallery, model, items, report, seen, on_image):  # the actors read the file again
        seen[r.sha256] = r.person
        meta[len(todo)] = (r.person, r.path, r.sha256, r.stored)  # reported as given, stored absolute
        todo.append({"i": len(todo), "path": r.stored})
    if not todo:
        return report

    quiet = {name: logging.getLogger(name).level for name in ("ray", "ray.data")}
    for name in quiet:  # Ray Data's per-run INFO lines would break into the caller's progress display
        logging.getLogger(name).setLevel(logging.WARNING)
    started = False
    if not ray.is_initialized():
        try:
            if address is None:
                _init_local(ray)
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                         configure_logging=False)
        except Exception as exc:  # Ray raises bare Exceptions (e.g. a raylet that did not start within 30 s)
            where = "start a local Ray" if address is None else f"join the Ray cluster at {address}"
            raise FaceprintError(f"could not {where}: {exc}") from None
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # rows come back in input order: the gallery gets the same ids
        ctx.enable_progress_bars = False
        n_actors = actors or max(1, min(8, int(ray.cluster_resources().get("CPU", 1))))
        blocks = max(1, min(-(-len(todo) // batch_size), 4 * n_actors))
        ds = ray.data.from_items(todo, override_num_blocks=blocks)
        out = ds.map_batches(
            FaceEmbedActor,
            fn_constructor_kwargs={"model": model, "detector": detector, "several": several},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=n_actors),
            num_cpus=1,
        )
        log.info("enrolling %d images on %d Ray actors", len(todo), n_actors)
        batches = iter(out.iter_batches(batch_size=batch_size, batch_format="numpy", prefetch_batches=2))
        try:
            for batch in batches:
                _write(gallery, model, batch, meta, report, on_image)
        finally:
            # Ray Data (2.60) stops its executor and actors when the iterator is closed: left to the garbage
            # collector (an interrupted run keeps this frame alive in its traceback), it would go on working while
            # Ray is shut down under it. Older Ray may still leave that to the collector.
            try:
                getattr(batches, "close", lambda: None)()
            except Exception as exc:  # a failure to stop is reported, never raised over the run's own outcome
                log.warning("Ray Data did not stop cleanly: %s", exc)
    finally:
        if started:
            _shutdown(ray)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    return report


def _shutdown(ray: Any) -> None:
    """Stop the local Ray this run started and wait for its processes (GCS, raylet) to exit, so that its ports are
    closed when the command returns (older Ray has no `wait_for_processes` and returns at once)."""
    if "wait_for_processes" in inspect.signature(ray.shutdown).parameters:
        ray.shutdown(wait_for_processes=True)
    else:
        ray.shutdown()


_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch for multi-node clusters ("0": every Ray process of this node binds to 127.0.0.1, as on a laptop).
Without it a local Ray resolves 127.0.0.1 to the machine's network address and its agents listen there."""


def _init_local(ray: Any) -> None:
    """Start a one-machine Ray whose servers listen on 127.0.0.1 only, without the dashboard."""
    from ray._private import ray_constants

    before_env, before_flag = os.environ.get(_LOCAL_ONLY), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_LOCAL_ONLY] = "0"  # for the processes ray.init starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # for this process, where ray was imported before
    try:
        for attempt in (1, 2):
            try:
                ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, configure_logging=False)
                break
            except Exception as exc:  # Ray gives its GCS and raylet fixed times to start ("timed out during startup",
                # "Timed out waiting for file .../gcs_server_port_..."); a busy 2-core machine can miss them
                if attempt == 2 or "timed out" not in str(exc).lower():
                    raise
                log.warning("the local Ray did not start in the time Ray allows (%s); trying once more", exc)
                _shutdown(ray)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before_flag
        if before_env is None:
            os.environ.pop(_LOCAL_ONLY, None)
        else:
            os.environ[_LOCAL_ONLY] = before_env


def _write(gallery: Gallery, model: str, batch: dict[str, np.ndarray], meta: dict[int, tuple[str, str, str, str]],
           report: EnrollReport, on_image: Callable[[str], None] | None) -> None:
    """One transaction per batch, in input order; skips reported as the local engine reports them."""
    identity = model_identity(model)
    done = []
    with gallery.transaction():
        for r, i in enumerate(batch["i"]):
            person, path, sha, stored = meta[int(i)]
            status = str(batch["status"][r])
            if status != "ok":
                report.skip(status, path, str(batch["detail"][r]))
                continue
            lm = batch["landmarks"][r]
            face = Face(tuple(float(v) for v in batch["box"][r]), float(batch["score"][r]),
                        tuple((float(lm[2 * j]), float(lm[2 * j + 1])) for j in range(5)))
            try:
                gallery.add_face(person, stored, sha, face, batch["vector"][r], model, identity)
            except AlreadyEnrolled as exc:  # another process enrolled it since the driver looked
                report.skip("already enrolled", path, f"as {exc.person}")
                continue
            done.append((person, path))
        record_enrolment(gallery, done, model)  # same transaction
    for person, path in done:
        report.enrolled[person] = report.enrolled.get(person, 0) + 1
        report.added.append((person, path))
    if on_image is not None:
        for i in batch["i"]:
            on_image(meta[int(i)][1])
