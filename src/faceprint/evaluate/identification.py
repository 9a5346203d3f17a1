"""Identification metrics on identity folders: closed-set rank-k and open-set DIR at FAR.

Protocol (`evaluate_identification`):

1. A share of the persons (`impostor_share`, at least one when the share is above 0), drawn with a seeded RNG,
   is held out of the gallery entirely: every photo of theirs is an *impostor query*.
2. Of every other person with at least K photos, K photos drawn with the same RNG are enrolled; the rest are
   *genuine queries*. Persons with fewer than K photos are left out (and listed).
3. Every query is searched against the enrolled faces with faceprint's own identifier (a person's distance is that
   of their nearest enrolled face).
4. Closed set: rank-k accuracy is the share of genuine queries whose true person is among the k nearest people.
5. Open set: for a FAR x, the threshold is the largest score at which at most a share x of the impostor
   queries' best (smallest) scores fall (`threshold_at_far`). DIR(x) is the share of genuine queries that are
   rank-1 correct AND whose best score is at or below that threshold. The score is the nearest person's distance
   divided by the second-nearest person's ** `score_lambda` (0, the default: the distance itself; `eval identify`
   passes the weight identify uses at the gallery's size, faceprint.recognize.score_law). With N impostor queries a FAR below 1/N
   cannot be resolved: the threshold then lets no impostor through and the result is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faceprint.evaluate.labelled import InsufficientData, LabelledEmbeddings
from faceprint.evaluate.metrics import threshold_at_far
from faceprint.recognize.identifier import GalleryEmbeddings
from faceprint.recognize.identifier import Identifier
from faceprint.recognize.score_law import open_set_scores

__all__ = [
    "DEFAULT_DIR_FARS",
    "DirAtFar",
    "IdentificationResult",
    "IdentificationSplit",
    "dir_at_far",
    "evaluate_identification",
    "rank_k_accuracy",
    "split_identification",
    "true_ranks",
]

DEFAULT_DIR_FARS: tuple[float, ...] = (1e-1, 1e-2)


def true_ranks(person_distances: np.ndarray, true_columns: np.ndarray) -> np.ndarray:
    """1-based rank of each query's true person among all people, nearest first (ties kept in column order).

    >>> true_ranks(np.array([[0.2, 0.5, 0.9], [0.3, 0.1, 0.4]]), np.array([0, 2])).tolist()
    [1, 3]
    """
    d = np.asarray(person_distances, dtype=np.float64)
    t = np.asarray(true_columns, dtype=np.int64)
    order = np.argsort(d, axis=1, kind="stable")
    return np.argmax(order == t[:, None], axis=1) + 1


def rank_k_accuracy(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose true person is among the k nearest (closed-set identification rate at rank k)."""
    r = np.asarray(ranks)
    return float((r <= k).mean()) if len(r) else float("nan")


def dir_at_far(
    genuine_best: np.ndarray, genuine_rank1: np.ndarray, impostor_best: np.ndarray, far: float
) -> tuple[float, float, float]:
    """Open-set detection-and-identification rate at a false-alarm rate.

    Args:
        genuine_best: each genuine query's smallest distance to any enrolled person.
        genuine_rank1: whether each genuine query's nearest person is the right one.
        impostor_best: each impostor query's smallest distance to any enrolled person.
        far: the target share of impostor queries that may be accepted.

    Returns:
        (dir, threshold, far_measured): the rate, the distance threshold set on the impostors, and the share of
        impostors at or below it.

    >>> dir_at_far([0.1, 0.2, 0.5], [True, False, True], [0.3, 0.6, 0.7, 0.8], 0.25)[0]  # threshold just below 0.6
    0.6666666666666666
    >>> dir_at_far([0.1, 0.2, 0.5], [True, False, True], [0.3, 0.6, 0.7, 0.8], 0.0)[0]  # just below 0.3
    0.3333333333333333
    """
    g = np.asarray(genuine_best, dtype=np.float64)
    ok = np.asarray(genuine_rank1, dtype=bool)
    imp = np.asarray(impostor_best, dtype=np.float64)
    thr = threshold_at_far(imp, far)
    return float((ok & (g <= thr)).mean()), thr, float((imp <= thr).mean())


@dataclass(frozen=True, eq=False)
class IdentificationSplit:
    """Row indices of the enrolled photos, the genuine queries and the impostor queries."""

    enrol: np.ndarray
    genuine: np.ndarray
    impostor: np.ndarray
    impostor_people: list[str]
    too_few: list[str]
    """Persons left out because they have fewer than K photos (and are not impostors)."""


def split_identification(labels: list[str], enroll_k: int, impostor_share: float = 0.2, seed: int = 0) -> IdentificationSplit:
    """Seeded split into enrolment photos, genuine queries and impostor queries (see the module docstring)."""
    if enroll_k < 1:
        raise ValueError("enroll_k must be at least 1")
    if not 0.0 <= impostor_share < 1.0:
        raise ValueError("impostor_share must be in [0, 1)")
    lab = np.asarray(labels, dtype=object)
    people = sorted(set(labels))
    rng = np.random.default_rng(seed)
    n_imp = 0
    if impostor_share > 0:
        n_imp = max(1, int(round(impostor_share * len(people))))
        if n_imp >= len(people):
            raise InsufficientData(
                f"{len(people)} people cannot give {n_imp} impostors and still leave someone to enrol; "
                "use more people or --impostors 0"
            )
    impostors = sorted(rng.permutation(len(people))[:n_imp].tolist())
    impostor_people = [people[i] for i in impostors]
    enrol: list[int] = []
    genuine: list[int] = []
    impostor: list[int] = []
    too_few: list[str] = []
    for person in people:
        rows = np.flatnonzero(lab == person)
        if person in impostor_people:
            impostor += rows.tolist()
        elif len(rows) < enroll_k:
            too_few.append(person)
        else:
            chosen = np.zeros(len(rows), bool)
            chosen[rng.choice(len(rows), enroll_k, replace=False)] = True
            enrol += rows[chosen].tolist()
            genuine += rows[~chosen].tolist()
    if not genuine:
        raise InsufficientData(
            f"no person has more than {enroll_k} photos with a face, so nothing is left to query; lower --enroll"
        )
    return IdentificationSplit(_rows(enrol), _rows(genuine), _rows(impostor), impostor_people, too_few)


def _rows(indices: list[int]) -> np.ndarray:
    return np.array(sorted(indices), dtype=np.int64)


@dataclass(frozen=True)
class DirAtFar:
    """One open-set operating point."""

    far: float
    dir: float
    threshold: float
    far_measured: float
    below_resolution: bool
    """The target FAR is finer than 1 / (impostor queries)."""


@dataclass(frozen=True, eq=False)
class IdentificationResult:
    """Closed-set and open-set figures of one identification run, and what went into them."""

    model: str
    enroll_k: int
    seed: int
    people: list[str]
    """The enrolled persons (confusion-matrix order)."""
    impostor_people: list[str]
    too_few: list[str]
    n_enrolled: int
    n_genuine: int
    n_impostor: int
    rank1: float
    rank5: float
    dir_at_far: dict[float, DirAtFar]
    threshold: float
    """The operating threshold the figures below were measured at (calibrated or the model's)."""
    dir_at_threshold: float
    far_at_threshold: float
    confusion: np.ndarray
    """(people, people) counts: row = true person, column = rank-1 answer, over genuine queries."""
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "enroll": self.enroll_k,
            "seed": self.seed,
            "people_enrolled": len(self.people),
            "impostor_people": self.impostor_people,
            "people_too_few_photos": self.too_few,
            "enrolled_faces": self.n_enrolled,
            "genuine_queries": self.n_genuine,
            "impostor_queries": self.n_impostor,
            "rank1": self.rank1,
            "rank5": self.rank5,
            "dir_at_far": {repr(x): p.dir for x, p in self.dir_at_far.items()},
            "dir_thresholds": {repr(x): p.threshold for x, p in self.dir_at_far.items()},
            "dir_far_measured": {repr(x): p.far_measured for x, p in self.dir_at_far.items()},
            "dir_below_resolution": {repr(x): p.below_resolution for x, p in self.dir_at_far.items()},
            "threshold": self.threshold,
            "dir_at_threshold": self.dir_at_threshold,
            "far_at_threshold": self.far_at_threshold,
            "skipped": len(self.skipped),
            "skipped_images": [p for p, _ in self.skipped],
        }


def evaluate_identification(
    data: LabelledEmbeddings,
    enroll_k: int,
    threshold: float,
    slope: float = 10.0,
    impostor_share: float = 0.2,
    fars: tuple[float, ...] = DEFAULT_DIR_FARS,
    seed: int = 0,
    split: IdentificationSplit | None = None,
    score_lambda: float = 0.0,
) -> IdentificationResult:
    """Run the protocol of this module's docstring with faceprint's Identifier as the search.

    `split` replaces the seeded draw (enroll_k, impostor_share and seed are then only recorded). `score_lambda`:
    the open-set score that DIR, FAR and `threshold` apply to is d1 / d2 ** score_lambda (0: the distance d1;
    faceprint.recognize.score_law), as the operating point of `identify` for this gallery says.
    """
    if split is None:
        split = split_identification(data.labels, enroll_k, impostor_share, seed)
    ids, names = data.label_ids()
    gallery = GalleryEmbeddings(
        data.model,
        data.vectors[split.enrol],
        np.arange(len(split.enrol), dtype=np.int64),
        ids[split.enrol],
        {i: n for i, n in enumerate(names)},
    )
    ident = Identifier(gallery, data.metric, threshold, slope)
    g_dist, pids = ident.person_distances(data.vectors[split.genuine])
    column = {int(p): j for j, p in enumerate(pids)}
    truth = np.array([column[int(p)] for p in ids[split.genuine]], dtype=np.int64)
    ranks = true_ranks(g_dist, truth)
    g_best = open_set_scores(g_dist, score_lambda).min(axis=1)  # the nearest person's score is the row's smallest
    g_ok = ranks == 1
    points: dict[float, DirAtFar] = {}
    far_thr = float("nan")
    dir_thr = float((g_ok & (g_best <= threshold)).mean())
    if len(split.impostor):
        i_dist, _ = ident.person_distances(data.vectors[split.impostor])
        i_best = open_set_scores(i_dist, score_lambda).min(axis=1)
        far_thr = float((i_best <= threshold).mean())
        for x in fars:
            rate, thr, got = dir_at_far(g_best, g_ok, i_best, x)
            points[x] = DirAtFar(x, rate, thr, got, x * len(i_best) < 1.0 - 1e-9)
    confusion = np.zeros((len(pids), len(pids)), dtype=np.int64)
    np.add.at(confusion, (truth, np.argmin(g_dist, axis=1)), 1)
    return IdentificationResult(
        model=data.model,
        enroll_k=enroll_k,
        seed=seed,
        people=[names[int(p)] for p in pids],
        impostor_people=split.impostor_people,
        too_few=split.too_few,
        n_enrolled=len(split.enrol),
        n_genuine=len(split.genuine),
        n_impostor=len(split.impostor),
        rank1=rank_k_accuracy(ranks, 1),
        rank5=rank_k_accuracy(ranks, 5),
        dir_at_far=points,
        threshold=threshold,
        dir_at_threshold=dir_thr,
        far_at_threshold=far_thr,
        confusion=confusion,
        skipped=list(data.skipped),
    )
