"""Compare nearest-neighbour identification with the knn, svm and linear classifiers, and their calibration.

    python bench/classifiers.py [--data avengers lfw5] [--shared ../shared]

Each data set is split as tests/test_recognize.py does: `split_per_person(items, 0.6)` enrols 60% of each
person's photos into a fresh gallery (real detection, alignment and embedding with the default model), and the
largest face of each held-out photo is identified.

* ``avengers``: the seed's 5 Avengers, 273 photos.
* ``lfw5``: the 81 people of LFW View 1 with at least 5 photos (472 photos; 3 enrolled faces for most people),
  a much harder set for a classifier, where calibration differences show.

Columns: ``open-set acc`` is what `faceprint identify` answers (through build_identifier: a face farther than the
threshold from every enrolled face is UNKNOWN and counts as an error; held-out photos without a detected face
count as errors too). ``closed acc`` is the classifier alone (or the nearest person, for nearest-neighbour), on
the photos with a face. ``conf`` and ``ECE`` (expected calibration error, 15 bins) are about that closed-set
answer and the probability given to it; for nearest-neighbour the probability is the distance-based confidence.
Rows marked ``sigmoid`` are scikit-learn's CalibratedClassifierCV(method="sigmoid", cv=3, ensemble=False) on the
same estimators, the calibration faceprint does not use; ``none`` is the kind with calibration="none".
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from faceprint.analyzer import FaceAnalyzer
from faceprint.gallery import Gallery, build_identifier, enroll, identity_folders, split_per_person
from faceprint.gallery.classifier_store import fit_from_gallery, save_classifier
from faceprint.recognize.classifiers import CLASSIFIER_KINDS, create_classifier, expected_calibration_error
from faceprint.types import Embeddings


def lfw5_folder(shared: Path, root: Path) -> Path:
    """A folder of links to the LFW View 1 people with at least 5 photos (identity-folder layout)."""
    images = shared / "data" / "lfw-view1" / "images"
    out = root / "lfw5"
    out.mkdir()
    for person in sorted(images.iterdir()):
        if person.is_dir() and len(list(person.glob("*.jpg"))) >= 5:
            (out / person.name).symlink_to(person.resolve(), target_is_directory=True)
    return out


def run(name: str, folder: Path, analyzer: FaceAnalyzer, work: Path) -> list[tuple]:
    items = identity_folders(folder)
    train, test = split_per_person(items, 0.6)
    people = sorted({p for p, _ in items})
    vectors, truth = [], []
    with Progress() as bar:
        task = bar.add_task(f"{name}: enrolling {len(train)} photos", total=len(train))
        with Gallery(work / f"{name}.sqlite") as g:
            enroll(g, analyzer, train, on_image=lambda _: bar.advance(task))
        task = bar.add_task(f"{name}: embedding {len(test)} held-out photos", total=len(test))
        for person, p in test:
            faces, emb = analyzer.analyze(p)
            if faces:
                vectors.append(emb.vectors[0])
                truth.append(person)
            bar.advance(task)
    queries = Embeddings(np.stack(vectors), analyzer.model)
    truth = np.array(truth, dtype=object)
    n_test = len(test)
    print(f"\n{name}: {len(people)} people, {len(train)} photos enrolled, {n_test} held out "
          f"({n_test - len(truth)} without a detected face)")
    rows = []
    with Gallery(work / f"{name}.sqlite") as g:
        model = analyzer.model
        ident = build_identifier(g, analyzer)
        matches = ident.identify(queries)
        open_acc = sum(m.person == t for m, t in zip(matches, truth)) / n_test
        conf = np.array([m.confidence for m in matches])
        correct = np.array([m.closest == t for m, t in zip(matches, truth)])
        rows.append((name, "nearest-neighbour", "distance", open_acc, correct.mean(), conf.mean(),
                     expected_calibration_error(conf, correct), 0.0))
        emb = g.embeddings(model)
        for kind in CLASSIFIER_KINDS:
            clf = fit_from_gallery(g, model, kind)
            save_classifier(g, model, clf)
            matches = build_identifier(g, analyzer, classifier=kind).identify(queries)
            open_acc = sum(m.person == t for m, t in zip(matches, truth)) / n_test
            for c, label in ((clf, "temperature"), (create_classifier(kind, calibration="none").fit(emb.vectors, emb.labels()), "none")):
                proba = c.predict_proba(queries.vectors)
                correct = np.array(c.classes_, dtype=object)[proba.argmax(axis=1)] == truth
                rows.append((name, kind, label, open_acc if c is clf else float("nan"), correct.mean(),
                             proba.max(axis=1).mean(), expected_calibration_error(proba.max(axis=1), correct),
                             c.fit_seconds_))
        rows += sigmoid_rows(name, emb.vectors, np.array(emb.labels(), dtype=object), queries.vectors, truth)
    return rows


def sigmoid_rows(name: str, x: np.ndarray, y: np.ndarray, xq: np.ndarray, truth: np.ndarray) -> list[tuple]:
    """scikit-learn's one-vs-rest Platt sigmoid on the estimators the knn and svm kinds use, against faceprint's
    temperature scaling, both on the people with at least 3 enrolled faces (what 3-fold sigmoid needs)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import LinearSVC

    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    names, n_faces = np.unique(y, return_counts=True)
    keep = set(names[n_faces >= 3])
    fit_rows, query_rows = np.isin(y, list(keep)), np.isin(truth, list(keep))
    x, y, xq, truth = x[fit_rows], y[fit_rows], xq[query_rows], truth[query_rows]
    label = "(>=3 faces)" if len(keep) < len(names) else ""
    knn, svm = create_classifier("knn"), create_classifier("svm")
    out = []
    for kind, est, xt, xqt in (
        ("knn", KNeighborsClassifier(knn.n_neighbors, weights="distance"), x, xq),
        ("svm", LinearSVC(C=svm.C, max_iter=10_000), unit(x), unit(xq)),
    ):
        t0 = time.perf_counter()
        folds = StratifiedKFold(3, shuffle=True, random_state=0)
        cal = CalibratedClassifierCV(est, method="sigmoid", cv=folds, ensemble=False).fit(xt, y)
        fit_s = time.perf_counter() - t0
        ours = create_classifier(kind).fit(x, y)
        for proba, classes, how, secs in ((cal.predict_proba(xqt), cal.classes_, "sigmoid", fit_s),
                                          (ours.predict_proba(xq), np.array(ours.classes_, dtype=object), "temperature", ours.fit_seconds_)):
            correct = classes[proba.argmax(axis=1)] == truth
            out.append((name, f"{kind} {label}".strip(), how, float("nan"), correct.mean(), proba.max(axis=1).mean(),
                        expected_calibration_error(proba.max(axis=1), correct), secs))
    print(f"{name}: sigmoid comparison on {len(keep)} of {len(names)} people ({len(truth)} held-out faces)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", choices=["avengers", "lfw5"], default=["avengers", "lfw5"])
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", "../shared")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="The number of unique classes")  # scikit-learn, on 81 people
    analyzer = FaceAnalyzer()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.data:
            folder = args.shared / "data" / "avengers" if name == "avengers" else lfw5_folder(args.shared, work)
            rows += run(name, folder, analyzer, work)
    print(f"\n{'data':9s} {'kind':18s} {'calibration':12s} {'open-set acc':>12s} {'closed acc':>10s} "
          f"{'conf':>6s} {'ECE':>6s} {'fit s':>6s}")
    for name, kind, cal, open_acc, closed_acc, conf, ece, fit_s in rows:
        open_s = "-" if np.isnan(open_acc) else f"{open_acc:.3f}"
        print(f"{name:9s} {kind:18s} {cal:12s} {open_s:>12s} {closed_acc:10.3f} {conf:6.3f} {ece:6.3f} {fit_s:6.2f}")


if __name__ == "__main__":
    main()
