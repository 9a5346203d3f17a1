"""Open-set identification: match faces against a gallery, name them or call them UNKNOWN.

Nearest neighbour over every enrolled face, aggregated per person (a person's distance is that of their
closest enrolled face). The nearest person is named when their open-set score is within the threshold: the
distance itself, or with the operating point of a score law (faceprint.recognize.score_law) the distance
divided by a power of the second-nearest person's; otherwise the face is UNKNOWN, and we still say who it
resembles most. A fitted classifier may re-rank the enrolled people, but it never overrides the open-set rule:
the person it names must have a score within the threshold however sure the classifier is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from faceprint.recognize.confidence import distance_to_confidence
from faceprint.recognize.open_set import OpenSetThreshold
from faceprint.recognize.score_law import open_set_scores
from faceprint.types import Embeddings, pairwise_distances

__all__ = ["Candidate", "GalleryEmbeddings", "Match", "Identifier", "ProbabilisticClassifier", "person_min_distances"]


@dataclass(frozen=True, eq=False)
class GalleryEmbeddings:
    """Every enrolled embedding of one model, row-aligned with its face and person: what identification compares
    queries with (a gallery store reads it: faceprint.gallery.store)."""

    model: str
    vectors: np.ndarray
    face_ids: np.ndarray
    person_ids: np.ndarray
    names: dict[int, str]
    """person id -> name"""

    def labels(self) -> list[str]:
        return [self.names[int(p)] for p in self.person_ids]


def person_min_distances(distances: np.ndarray, person_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reduce (Q, N) face distances to (Q, P) per-person minimum distances; returns (matrix, person ids)."""
    order = np.argsort(person_ids, kind="stable")
    pids = person_ids[order]
    starts = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1]])
    return np.minimum.reduceat(distances[:, order], starts, axis=1), pids[starts]



class FaceDirectory(Protocol):
    """Where an Identifier whose search index answers face ids looks up those faces (a gallery store does): their
    people and their exact vectors, for the returned ids only."""

    def people_of_faces(self, model: str, face_ids: Sequence[int]) -> tuple[np.ndarray, dict[int, str]]: ...

    def vectors_of(self, model: str, face_ids: Sequence[int]) -> np.ndarray: ...


class ProbabilisticClassifier(Protocol):
    classes_: list[str]

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Candidate:
    """One of the top-k people. `confidence` comes from the same curve as the Match's, applied to this person's own
    score (their distance over the nearest other person's ** lam); the curve was fitted on nearest people, so for
    the others it ranks rather than being separately calibrated."""

    person: str
    distance: float
    confidence: float


@dataclass(frozen=True)
class Match:
    """The verdict on one face."""

    person: str | None
    """The identified person, or None for UNKNOWN."""
    closest: str
    """The nearest enrolled person, also when UNKNOWN."""
    distance: float
    """Distance to the closest person's nearest enrolled face."""
    confidence: float
    """Probability in [0, 1] that the face is `closest` (faceprint.recognize.score_law, else .confidence)."""
    candidates: list[Candidate] = field(default_factory=list)
    """The top-k people, nearest first."""
    score: float | None = None
    """The open-set score compared with the threshold (None: the distance was)."""

    @property
    def unknown(self) -> bool:
        return self.person is None

    def describe(self) -> str:
        """The sentence the seed notebooks print."""
        if self.person is None:
            return f"UNKNOWN FACE, but similar to {self.closest} with {100 * self.confidence:.2f}% probability"
        return f"{self.person} with {100 * self.confidence:.2f}% probability"

    def label(self) -> str:
        """A short form for drawing on photos."""
        if self.person is None:
            return f"UNKNOWN (~{self.closest} {100 * self.confidence:.0f}%)"
        return f"{self.person} {100 * self.confidence:.0f}%"


class Identifier:
    """Identify query embeddings against one model's gallery embeddings."""

    def __init__(
        self,
        gallery: GalleryEmbeddings,
        metric: str,
        threshold: float,
        slope: float,
        classifier: ProbabilisticClassifier | None = None,
        index: object | None = None,
        operating_point: OpenSetThreshold | None = None,
        directory: FaceDirectory | None = None,
        n_people: int | None = None,
    ) -> None:
        """`directory`: with an `index` whose ``search_ids`` answers face ids (a Milvus server), `gallery` holds no
        vectors and the candidates' people and vectors are read from the directory, for those rows only;
        `n_people` is then how many people are enrolled."""
        self.gallery = gallery
        self.directory = directory
        self.n_people = n_people if n_people is not None else len(np.unique(gallery.person_ids))
        self.metric = metric
        self.threshold = threshold
        self.slope = slope
        self.classifier = classifier
        self.index = index
        self.operating_point = operating_point
        """How the threshold was chosen, what it applies to and the share of strangers it is expected to name
        (None: a distance threshold, stranger rate not known)."""
        self.score_lambda = operating_point.score_lambda if operating_point is not None else 0.0

    def person_distances(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q, P) distance of each query to each person's nearest enrolled face, and the person ids."""
        if self.directory is not None:
            return self._person_distances_by_face_ids(queries)
        if self.index is not None:
            return self._person_distances_indexed(queries)
        d = pairwise_distances(queries, self.gallery.vectors, self.metric)
        return person_min_distances(d, self.gallery.person_ids)

    def _person_distances_indexed(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Approximate: only the people among the nearest k faces get a finite distance. The open-set score needs the
        # second-nearest person too, so queries whose k faces all show one person are searched again with 4x k.
        pids = np.unique(self.gallery.person_ids)
        col = {int(p): i for i, p in enumerate(pids)}
        out = np.full((len(queries), len(pids)), np.inf, np.float32)
        todo = np.arange(len(queries))
        k, n = 100, len(self.gallery.person_ids)
        while len(todo):
            dist, idx = self.index.search(queries[todo], min(k, n))  # type: ignore[attr-defined]
            for row, q in enumerate(todo):
                for d, i in zip(dist[row], idx[row]):
                    if i >= 0:
                        c = col[int(self.gallery.person_ids[i])]
                        out[q, c] = min(out[q, c], d)
            if k >= n or len(pids) < 2:
                break
            todo = todo[np.isfinite(out[todo]).sum(axis=1) < 2]
            k *= 4
        return out, pids

    def _person_distances_by_face_ids(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # As _person_distances_indexed, with the index answering face ids: the candidates' people and exact vectors
        # come from the directory (the store), so nothing but the returned rows is read.
        model, index = self.gallery.model, self.index
        n = len(index)  # type: ignore[arg-type]
        best: list[dict[int, float]] = [{} for _ in range(len(queries))]
        todo, k = np.arange(len(queries)), 100
        while len(todo) and n:
            _, fids = index.search_ids(queries[todo], min(k, n))  # type: ignore[attr-defined]
            uniq = np.unique(fids[fids >= 0])
            pids, names = self.directory.people_of_faces(model, uniq.tolist())  # type: ignore[union-attr]
            self.gallery.names.update(names)
            exact = pairwise_distances(queries[todo], self.directory.vectors_of(model, uniq.tolist()), self.metric)  # type: ignore[union-attr]
            col = {int(f): j for j, f in enumerate(uniq)}
            for row, q in enumerate(todo):
                for f in fids[row]:
                    j = col.get(int(f))
                    if j is None or pids[j] < 0:  # a face removed since the index answered
                        continue
                    p, d = int(pids[j]), float(exact[row, j])
                    best[q][p] = min(best[q].get(p, np.inf), d)
            if k >= n or self.n_people < 2:
                break
            todo = np.array([q for q in todo if len(best[q]) < 2], np.int64)
            k *= 4
        people = np.array(sorted({p for b in best for p in b}), np.int64)
        out = np.full((len(queries), len(people)), np.inf, np.float32)
        at = {int(p): i for i, p in enumerate(people)}
        for q, b in enumerate(best):
            for p, d in b.items():
                out[q, at[p]] = d
        return out, people

    def identify(self, queries: Embeddings, top_k: int = 3) -> list[Match]:
        """One Match per query row."""
        if queries.model != self.gallery.model:
            from faceprint.errors import ModelMismatch

            raise ModelMismatch(queries.model, self.gallery.model)
        if len(queries) == 0:
            return []
        pdist, pids = self.person_distances(queries.vectors)
        scores = open_set_scores(pdist, self.score_lambda)
        names = [self.gallery.names[int(p)] for p in pids]
        probs = None
        if self.classifier is not None:
            probs = self.classifier.predict_proba(queries.vectors)
        by_score = self.score_lambda != 0.0
        matches = []
        for q in range(len(queries)):
            order = np.argsort(pdist[q], kind="stable")[: max(top_k, 1)]
            conf = self._confidence(pdist[q, order], scores[q, order])
            cands = [Candidate(names[j], float(pdist[q, j]), float(c)) for j, c in zip(order, conf)]
            nearest = cands[0]
            s_near = float(scores[q, order[0]])
            shown = s_near if by_score else None
            if probs is None:
                person = nearest.person if s_near <= self.threshold else None
                matches.append(Match(person, nearest.person, nearest.distance, nearest.confidence, cands, shown))
                continue
            # Classifier decides among the enrolled; the open-set rule still applies to its choice.
            best = int(np.argmax(probs[q]))
            chosen = self.classifier.classes_[best]
            col = names.index(chosen) if chosen in names else None
            chosen_s = float(scores[q, col]) if col is not None else float("inf")
            p = float(probs[q, best])
            # The person the classifier names must themselves score within the threshold; a look-alike within it
            # does not lend them its closeness.
            if chosen_s > self.threshold:
                matches.append(Match(None, nearest.person, nearest.distance, nearest.confidence, cands, shown))
            else:
                matches.append(Match(chosen, chosen, float(pdist[q, col]), p, cands, chosen_s if by_score else None))
        return matches

    def _confidence(self, distances: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Confidence of each candidate: calibrated by the score law when there is one, else the distance logistic."""
        calibrated = self.operating_point.confidence(scores) if self.operating_point is not None else None
        if calibrated is not None:
            return calibrated
        return distance_to_confidence(distances, self.threshold, self.slope)
