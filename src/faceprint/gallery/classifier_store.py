"""Fitted classifiers in the gallery: their byte container, the key they are stored under, and the stale policy.

A classifier (`faceprint.recognize.classifiers`) fitted on a gallery's embeddings of one model is stored in that
gallery as a blob under `classifier_key(gallery, model, kind)`, with metadata recording the gallery state it was fitted
on. `load_classifier` compares that state with the gallery's current one: a classifier fitted before people or
faces changed is stale, and is refitted (``stale="refit"``) or refused with `StaleClassifier` (``stale="refuse"``).
"""

from __future__ import annotations

import json
import logging
import struct
import time
from typing import Any, Literal

from faceprint.errors import GalleryError, StaleClassifier, UnknownModel
from faceprint.recognize.classifiers import CLASSIFIER_KINDS, EmbeddingClassifier, create_classifier

__all__ = [
    "StaleClassifier",
    "classifier_from_bytes",
    "classifier_key",
    "classifier_status",
    "classifier_to_bytes",
    "fit_from_gallery",
    "load_classifier",
    "save_classifier",
]

log = logging.getLogger(__name__)

MAGIC = b"FPCLF\x00"
FORMAT_VERSION = 2


# -- the byte container ---------------------------------------------------------------------------------------


def classifier_to_bytes(clf: EmbeddingClassifier) -> bytes:
    """The fitted classifier as bytes: a JSON header (kind, parameters, classes, temperature) and the model
    (a pickle of the scikit-learn estimator; numpy arrays for the linear head). Read back with
    `classifier_from_bytes`. Unpickling runs code: only load classifiers from galleries you trust."""
    clf._check_fitted()
    header = {
        "format": FORMAT_VERSION,
        "kind": clf.kind,
        "params": clf.get_params(),
        "classes": list(clf.classes_),
        "n_features_in": clf.n_features_in_,
        "n_samples": clf.n_samples_,
        "temperature": clf.temperature_,
        "calibration": clf.calibration_,
        "fit_seconds": clf.fit_seconds_,
    }
    head = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + clf._dump(clf.model_)


def classifier_from_bytes(data: bytes) -> EmbeddingClassifier:
    """Rebuild a classifier written by `classifier_to_bytes` (ValueError if the bytes are not one)."""
    data = bytes(data)
    if data[: len(MAGIC)] != MAGIC or len(data) < len(MAGIC) + 4:
        raise ValueError("not a faceprint classifier (bad magic bytes)")
    (n,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = json.loads(data[start : start + n])
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(f"classifier format {header.get('format')!r} is not supported (expected {FORMAT_VERSION})")
    clf = create_classifier(header["kind"], **header["params"])
    clf.model_ = clf._load(data[start + n :])
    clf.classes_ = list(header["classes"])
    clf.n_features_in_ = int(header["n_features_in"])
    clf.n_samples_ = int(header["n_samples"])
    clf.temperature_ = float(header["temperature"])
    clf.calibration_ = header["calibration"]
    clf.fit_seconds_ = float(header["fit_seconds"])
    return clf


# -- in the gallery ---------------------------------------------------------------------------------------------


def classifier_key(gallery: Any, model: str, kind: str) -> str:
    """The gallery blob key of the `kind` classifier of `model` (keyed by the model's identity: Gallery.data_key)."""
    return gallery.data_key(f"classifier:{kind}", model)


def _identity(gallery: Any, model: str) -> Any:
    """The model's current identity, so stale vectors raise StaleEmbeddings rather than train a classifier; a name
    this process cannot build (another process's checkpoint) takes the gallery's record, and none checks nothing."""
    from faceprint.errors import UnknownModel
    from faceprint.models.identity import model_identity

    try:
        return model_identity(model)
    except UnknownModel:
        return gallery.model_record(model)


def fit_from_gallery(gallery: Any, model: str, kind: str, **params: Any) -> EmbeddingClassifier:
    """Fit a `kind` classifier on every embedding of `model` in the gallery (labels: person names).

    Remembers the gallery state it saw, read before the embeddings so that an edit racing with the fit makes
    the saved classifier look stale, never fresh.
    """
    clf = create_classifier(kind, **params)
    state = gallery.state(model)
    emb = gallery.embeddings(model, _identity(gallery, model))
    people = sorted(set(emb.labels()))
    if len(people) < 2:
        raise GalleryError(
            f"{gallery.path}: a classifier needs at least two people enrolled with model {model!r}; "
            f"found {len(people)} ({', '.join(people)})"
        )
    clf.fit(emb.vectors, emb.labels())
    clf.gallery_state_ = state  # type: ignore[attr-defined]
    return clf


def save_classifier(gallery: Any, model: str, clf: EmbeddingClassifier) -> str:
    """Store a fitted classifier in the gallery under `classifier_key(gallery, model, kind)`; returns the key.

    Records the gallery state it was fitted on (what `fit_from_gallery` saw, else the current state), so that
    `load_classifier` can tell when it has gone stale.
    """
    clf._check_fitted()
    meta: dict[str, object] = {
        "kind": clf.kind,
        "model": model,
        "state": getattr(clf, "gallery_state_", None) or gallery.state(model),
        "n_samples": clf.n_samples_,
        "classes": list(clf.classes_),
        "created": time.time(),
        "params": clf.get_params(),
    }
    key = classifier_key(gallery, model, clf.kind)
    gallery.put_blob(key, meta, classifier_to_bytes(clf))
    return key


def classifier_status(gallery: Any, model: str, kind: str) -> Literal["fresh", "stale", "missing"]:
    """Whether the gallery holds a `kind` classifier of `model`, and whether it matches the gallery now."""
    blob = gallery.get_blob(classifier_key(gallery, model, kind))
    if blob is None:
        return "missing"
    return "fresh" if blob[0].get("state") == gallery.state(model) else "stale"


def load_classifier(
    gallery: Any, model: str, kind: str, stale: Literal["refit", "refuse"] = "refit"
) -> EmbeddingClassifier:
    """The stored `kind` classifier of `model`.

    When the gallery changed since it was fitted: with stale="refit", fit it again on the current gallery (same
    parameters), store and return it; with stale="refuse", raise StaleClassifier. A missing classifier raises
    GalleryError saying how to fit one; an unreadable one is refitted (or refused).
    """
    if kind not in CLASSIFIER_KINDS:
        raise UnknownModel("classifier", kind, list(CLASSIFIER_KINDS))
    if stale not in ("refit", "refuse"):
        raise ValueError(f"stale must be 'refit' or 'refuse', got {stale!r}")
    blob = gallery.get_blob(classifier_key(gallery, model, kind))
    if blob is None:
        raise GalleryError(
            f"{gallery.path}: no {kind} classifier for model {model!r} in the gallery; "
            f"fit one with `faceprint fit-classifier --kind {kind}`"
        )
    meta, data = blob
    why = "the gallery has changed since"
    if meta.get("state") == gallery.state(model):
        try:
            return classifier_from_bytes(data)
        except Exception as exc:  # damaged, or written by another faceprint
            why = f"it cannot be read ({exc})"
    if stale == "refuse":
        raise StaleClassifier(
            f"{gallery.path}: the {kind} classifier for model {model!r} is stale: it was fitted on "
            f"{meta.get('n_samples')} faces of {len(meta.get('classes') or [])} people and {why}; "
            f"refit it with `faceprint fit-classifier --kind {kind}`"
        )
    log.info("the %s classifier of %s is stale (%s); refitting", kind, model, why)
    params = meta.get("params")
    try:
        clf = fit_from_gallery(gallery, model, kind, **(params if isinstance(params, dict) else {}))
    except TypeError:  # parameters of an older version of the kind
        clf = fit_from_gallery(gallery, model, kind)
    save_classifier(gallery, model, clf)
    return clf
