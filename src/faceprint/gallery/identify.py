"""Build an Identifier over a gallery: its store's vectors of the analyzer's model, its calibrated threshold, a
stored classifier and a FAISS or Milvus index beside it. The wiring between the gallery and recognition
(faceprint.recognize, which knows no store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from faceprint.models.identity import model_identity
from faceprint.recognize.identifier import GalleryEmbeddings, Identifier
from faceprint.recognize.images import gallery_threshold
from faceprint.recognize.open_set import DEFAULT_FAR

if TYPE_CHECKING:
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.gallery.faiss_index import FaissIndex
    from faceprint.gallery.milvus_index import MilvusIndex
    from faceprint.gallery.store import GalleryStore as Gallery

__all__ = ["build_identifier"]


def build_identifier(
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    threshold: float | None = None,
    classifier: str | None = None,
    index: str = "exact",
    far: float = DEFAULT_FAR,
    embeddings: GalleryEmbeddings | None = None,
) -> Identifier:
    """An Identifier over the gallery's embeddings of the analyzer's model (EmptyGallery if there are none).

    Its threshold names a share `far` of strangers at the gallery's current size (see gallery_threshold), unless
    `threshold` is given.
    index: "exact", "faiss" (a file beside the gallery), "milvus" (a milvus-lite file beside it) or
    "milvus://HOST:PORT" (a Milvus server); a Milvus index holds a connection, closed by `identifier.index.close()`.
    embeddings: the model's vectors as the caller already holds them (GalleryStore.follow_vectors), not read again.
    """
    spec = analyzer.embedder.spec
    if classifier is None and (index == "milvus" or index.startswith("milvus://")):
        # Read no vector: the people's photo counts set the threshold; Milvus answers face ids and the store the
        # candidates' rows (people and exact vectors), those rows only.
        from faceprint.gallery.milvus_index import open_milvus_in_step

        gallery.require_model(spec.name)
        gallery.check_identity(spec.name, model_identity(spec))
        photos = gallery.photo_counts(spec.name)
        point = gallery_threshold(gallery, spec.name, photos.tolist(), far, threshold, spec.open_set_threshold)
        server = open_milvus_in_step(gallery, spec.name, index)  # the caller closes it: identifier.index.close()
        empty = GalleryEmbeddings(spec.name, np.zeros((0, spec.embedding_dim), np.float32), np.zeros(0, np.int64),
                                  np.zeros(0, np.int64), {})
        return Identifier(empty, spec.metric, point.threshold, spec.confidence_slope, index=server, operating_point=point,
                          directory=gallery, n_people=len(photos))
    if embeddings is not None:
        gallery.check_identity(spec.name, model_identity(spec))
        emb = embeddings
    else:
        emb = gallery.embeddings(spec.name, model_identity(spec))
    _, photos = np.unique(emb.person_ids, return_counts=True)
    point = gallery_threshold(gallery, spec.name, photos.tolist(), far, threshold, spec.open_set_threshold)
    thr = point.threshold
    clf = None
    if classifier is not None:
        from faceprint.gallery.classifier_store import load_classifier

        clf = load_classifier(gallery, spec.name, classifier)
    idx: FaissIndex | MilvusIndex | None = None
    if index == "faiss":
        from faceprint.gallery.faiss_index import load_or_build_index

        idx = load_or_build_index(gallery, spec.name)
    elif index == "milvus" or index.startswith("milvus://"):
        from faceprint.gallery.milvus_index import load_or_build_milvus

        idx = load_or_build_milvus(gallery, spec.name, index)  # the caller closes it: identifier.index.close()
    elif index != "exact":
        raise ValueError(f"unknown index {index!r}; choose exact, faiss, milvus or milvus://HOST:PORT")
    return Identifier(emb, spec.metric, thr, spec.confidence_slope, classifier=clf, index=idx, operating_point=point)
