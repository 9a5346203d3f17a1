"""Clustering unlabelled photo collections: find the people before anyone names them.

>>> from faceprint.cluster import collect_faces, cluster_collection          # doctest: +SKIP
>>> outcome = cluster_collection(collect_faces(paths, faceprint.analyzers.get()))
>>> {cid: len(faces) for cid, faces in outcome.clusters.clusters().items()}

* `collect_faces`: every face of every photo with its embedding (cached), low-quality faces kept out.
* `cluster_vectors`: the methods (average-linkage agglomerative, Chinese Whispers over a kNN graph, HDBSCAN) with
  the cannot-link rule for faces of one photo.
* `cluster_collection`: a run (faces of enrolled people named first), `SavedClusters`: clusters kept in a gallery
  to name, merge, split and grow with new photos.
* `score_clustering`: pairwise / BCubed precision, recall and F, and NMI against the true people.

Needs the ``cluster`` extra (scikit-learn, networkx, chinese-whispers).
"""

from faceprint.cache import FaceCache
from faceprint.cluster.collect import Collection, CollectedFace, collect_faces
from faceprint.cluster.methods import METHODS, cluster_vectors
from faceprint.cluster.metrics import ClusterScores, score_clustering
from faceprint.cluster.quality import QualityRule
from faceprint.cluster.run import DEFAULT_METHOD, ClusterOutcome, NamedFace, cluster_collection, default_threshold
from faceprint.cluster.saved import NoClusters, SavedClusters, UnknownCluster
from faceprint.cluster.threshold import collection_threshold

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "ClusterOutcome",
    "ClusterScores",
    "CollectedFace",
    "Collection",
    "FaceCache",
    "NamedFace",
    "NoClusters",
    "QualityRule",
    "SavedClusters",
    "UnknownCluster",
    "cluster_collection",
    "cluster_vectors",
    "collection_threshold",
    "collect_faces",
    "default_threshold",
    "score_clustering",
]
