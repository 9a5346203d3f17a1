"""`train-head`: the transfer-learning step. A frozen network, a new linear layer trained with cross-entropy.

Each person's photos are split (`split_per_person`): the training share is embedded with the frozen model and
enrolled into the gallery, and a `LinearHeadClassifier` (a softmax layer on the embeddings, the ``linear`` kind
of `faceprint.recognize.classifiers`) is fitted on the gallery's embeddings of that model and stored there,
exactly as `fit-classifier --kind linear` stores it, so `identify --classifier linear` uses it. The held-out
share is never enrolled: it measures the head's accuracy, beside the accuracy of plain nearest-neighbour search
over the same gallery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.detect import DEFAULT_DETECTOR
from faceprint.errors import NoImagesFound
from faceprint.gallery.classifier_store import fit_from_gallery, save_classifier
from faceprint.gallery.enroll import split_per_person
from faceprint.gallery.store import Gallery
from faceprint.models._weights import sha256_file
from faceprint.models.base import Embedder
from faceprint.recognize.classifiers import EmbeddingClassifier
from faceprint.recognize.identifier import Identifier
from faceprint.train.data import FaceSet, prepare_faces

__all__ = ["HeadReport", "enroll_faces", "train_head"]

log = logging.getLogger(__name__)


@dataclass
class HeadReport:
    """What `train_head` did and measured."""

    model: str
    gallery: str
    classifier_key: str
    people: int
    train_faces: int
    """Faces of these photos in the training share."""
    fitted_faces: int
    """Faces the head was fitted on: every face of the model in the gallery, these and any enrolled before."""
    enrolled: int
    """Faces newly written to the gallery (already enrolled ones are skipped)."""
    test_faces: int
    head_accuracy: float | None
    """Share of held-out faces the linear head names right (None without a held-out share)."""
    nearest_accuracy: float | None
    """Share named right by the nearest enrolled face, for comparison."""
    per_person: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    calibration: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def enroll_faces(gallery: Gallery, faces: FaceSet, vectors: np.ndarray, model: str) -> int:
    """Write prepared faces and their embeddings into the gallery in one transaction; returns how many were new.

    A photo already enrolled with this model (same bytes) is left as it is, so reruns add nothing twice.
    """
    from faceprint.models.identity import model_identity

    identity = model_identity(model)
    added = 0
    with gallery.transaction():
        for person, source, face, vec in zip(faces.persons, faces.sources, faces.faces, vectors):
            sha = sha256_file(source)
            if gallery.enrolled_as(sha, model) is not None:
                continue
            gallery.add_face(person, source, sha, face, vec, model, identity)
            added += 1
    return added


def train_head(
    gallery: Gallery,
    embedder: Embedder,
    items: Sequence[tuple[str, Path]],
    holdout: float = 0.4,
    cropped: bool = False,
    detector: str = DEFAULT_DETECTOR,
    params: dict[str, Any] | None = None,
    on_image: Callable[[str], None] | None = None,
) -> tuple[HeadReport, EmbeddingClassifier]:
    """Enrol the training share of `items`, fit and store the linear head, score it on the held-out share.

    Args:
        gallery: where the faces and the head are stored.
        embedder: the frozen model.
        items: (person, photo) pairs, e.g. from `identity_folders`.
        holdout: share of each person's photos kept out for testing (0: enrol everything, measure nothing).
        cropped: each file is one face crop (no detection).
        params: LinearHeadClassifier parameters (steps, lr, weight_decay, ...).
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    # split the photos before detection, as `train --holdout-photos` does, so both hold out the same photos
    test_sources = {str(s) for _, s in split_per_person(list(items), 1.0 - holdout)[1]} if holdout > 0 else set()
    faces = prepare_faces(items, embedder, cropped, detector, on_image=on_image)
    is_test = np.array([s in test_sources for s in faces.sources], bool)
    train, test = faces.subset(~is_test), faces.subset(is_test)
    if len(train) == 0:
        raise NoImagesFound("no face left to train the head on")
    model = embedder.name
    leaked = [s for s in test.sources if gallery.enrolled_as(sha256_file(s), model) is not None]
    if leaked:  # the head would be fit on them and nearest-neighbour search would find the photo itself
        raise ValueError(
            f"{len(leaked)} of the {len(test)} held-out photos are already enrolled in {gallery.path} for {model} "
            f"(e.g. {leaked[0]}): use a fresh --gallery, or --holdout 0 to measure nothing"
        )
    added = enroll_faces(gallery, train, embedder.embed(train.crops).vectors, model)
    clf = fit_from_gallery(gallery, model, "linear", **(params or {}))
    key = save_classifier(gallery, model, clf)
    report = HeadReport(
        model=model,
        gallery=str(gallery.path),
        classifier_key=key,
        people=len(clf.classes_),
        train_faces=len(train),
        fitted_faces=int(clf.n_samples_),
        enrolled=added,
        test_faces=len(test),
        head_accuracy=None,
        nearest_accuracy=None,
        skipped={k: len(v) for k, v in faces.skipped.items()},
        calibration=clf.calibration_,
    )
    if len(test):
        q = embedder.embed(test.crops).vectors
        truth = np.array(test.persons, dtype=object)
        head_pred = clf.predict(q)
        g = gallery.embeddings(model)
        dist, pids = Identifier(g, embedder.spec.metric, embedder.spec.threshold, 1.0).person_distances(q)
        nn_pred = np.array([g.names[int(pids[i])] for i in dist.argmin(axis=1)], dtype=object)
        report.head_accuracy = float(np.mean(head_pred == truth))
        report.nearest_accuracy = float(np.mean(nn_pred == truth))
        for person in sorted(set(test.persons)):
            m = truth == person
            report.per_person[person] = {
                "faces": int(m.sum()),
                "head": float(np.mean(head_pred[m] == person)),
                "nearest": float(np.mean(nn_pred[m] == person)),
            }
    return report, clf
