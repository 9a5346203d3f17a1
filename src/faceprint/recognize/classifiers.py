"""Classifiers on frozen embeddings: the transfer-learning step of recognition.

The embedding network stays fixed; a small classifier learns the enrolled people from their gallery embeddings.
Three kinds, all with scikit-learn conventions (``fit`` returns self, learned attributes end in ``_``, using an
unfitted classifier raises :class:`faceprint.errors.NotFittedError`) and calibrated probabilities:

``knn``
    k nearest neighbours with distance-weighted votes (scikit-learn), calibrated with Platt's sigmoid
    (``CalibratedClassifierCV(method="sigmoid", ensemble=False)``: the calibrator learns from cross-validated
    votes, the classifier used for prediction sees every enrolled face).
``svm``
    a linear support vector machine on L2-normalised embeddings (scikit-learn ``SVC``) with Platt scaling,
    the same ``CalibratedClassifierCV(..., ensemble=False)`` that replaces ``SVC(probability=True)``
    (deprecated in scikit-learn 1.9).
``linear``
    a softmax layer ``torch.nn.Linear(D, C)`` trained with cross-entropy (Adam, weight decay, fixed seed) on
    L2-normalised embeddings, then temperature-scaled on a held-out split. Predicting needs numpy only: the
    fitted weights are stored as numpy arrays.

Why these calibrators (synthetic clustered embeddings, see the report that came with this module and
``bench/classifiers.py``): distance-weighted kNN votes are overconfident (most are exactly 0 or 1), and the
sigmoid brought their expected calibration error down the most; temperature scaling cannot move a vote of 0 or
1, and isotonic regression overfits the few calibration samples a gallery has. The SVM's decision values are not
probabilities at all, and Platt's sigmoid is their classic and measured-best fix. A softmax layer trained with
weight decay is systematically under- or over-confident by a roughly constant factor, which is exactly what one
temperature fixes without changing a single prediction.

Tiny classes: cross-validated calibration needs at least ``cv`` faces of every person (3 by default). With fewer,
``knn`` and ``svm`` fall back to uncalibrated probabilities (a logged warning, ``calibration_ == "none"``);
``linear`` holds out faces only of people who have at least 3, and skips temperature scaling when fewer than 10
faces could be held out.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import pickle
import struct
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from faceprint.errors import GalleryError, MissingExtra, NotFittedError, UnknownModel

__all__ = [
    "CLASSIFIER_KINDS",
    "EmbeddingClassifier",
    "KNNClassifier",
    "SVMClassifier",
    "LinearHeadClassifier",
    "StaleClassifier",
    "create_classifier",
    "classifier_from_bytes",
    "classifier_key",
    "save_classifier",
    "load_classifier",
    "fit_from_gallery",
    "expected_calibration_error",
]

log = logging.getLogger(__name__)

CLASSIFIER_KINDS = ("knn", "svm", "linear")
MAGIC = b"FPCLF\x00"
FORMAT_VERSION = 1


class StaleClassifier(GalleryError):
    """The stored classifier was fitted on an older state of the gallery (people or faces changed since)."""

    exit_code = 10


# -- helpers ----------------------------------------------------------------------------------------------------


def _sklearn() -> Any:
    try:
        import sklearn
    except ImportError:
        raise MissingExtra("scikit-learn", "classify") from None
    return sklearn


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingExtra("torch", "torch") from None
    return torch


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def expected_calibration_error(proba: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - mean confidence| x bin weight.

    `y_true` holds column indices into `proba` (or -1 for a label the classifier does not know: always wrong).
    """
    proba = np.asarray(proba, dtype=np.float64)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def _class_counts(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y_idx, minlength=n_classes)


# -- the base class ---------------------------------------------------------------------------------------------


class EmbeddingClassifier:
    """Shared validation, prediction API and serialisation. Subclasses implement `_fit` and `_predict_proba`.

    Labels are person names: `classes_` is the sorted list of the distinct labels given to `fit`, as strings,
    and column j of `predict_proba` is the probability of `classes_[j]`.
    """

    kind: ClassVar[str] = ""
    calibration_: str

    # -- parameters (sklearn style: every __init__ argument is an attribute of the same name) ---------------

    def get_params(self) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- validation -----------------------------------------------------------------------------------------

    @staticmethod
    def _validate_x(x: Any, what: str = "X") -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise ValueError(f"{what} must be a 2-D array (n_samples, n_features), got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{what} must hold numbers, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.shape[1] == 0:
            raise ValueError(f"{what} has no features")
        if not np.isfinite(arr).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        return arr

    def _validate_fit(self, x: Any, y: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        arr = self._validate_x(x)
        labels = [str(v) for v in (y.tolist() if isinstance(y, np.ndarray) else y)]
        if len(labels) != len(arr):
            raise ValueError(f"X has {len(arr)} rows but y has {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"a classifier needs at least 2 classes (people), got {len(classes)}")
        pos = {c: i for i, c in enumerate(classes)}
        return arr, np.array([pos[v] for v in labels], np.int64), classes

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def _validate_predict(self, x: Any) -> np.ndarray:
        self._check_fitted()
        arr = self._validate_x(x)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {arr.shape[1]} features, but the classifier was fitted with {self.n_features_in_}")
        return arr

    # -- the API ----------------------------------------------------------------------------------------------

    def fit(self, x: Any, y: Sequence[Any]) -> EmbeddingClassifier:
        """Learn the people in `y` (names) from their embeddings `x` (N, D); returns self."""
        arr, y_idx, classes = self._validate_fit(x, y)
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
            delattr(self, attr)  # a refit starts from scratch
        counts = _class_counts(y_idx, len(classes))
        t0 = time.perf_counter()
        self._fit(arr, y_idx, counts)
        self.fit_seconds_ = time.perf_counter() - t0
        self.classes_ = classes
        self.n_features_in_ = int(arr.shape[1])
        self.n_samples_ = int(arr.shape[0])
        self.class_counts_ = counts
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """(N, C) probabilities, columns in the order of `classes_`; each row sums to 1."""
        arr = self._validate_predict(x)
        if len(arr) == 0:
            return np.zeros((0, len(self.classes_)))
        p = np.asarray(self._predict_proba(arr), dtype=np.float64)
        p = np.clip(p, 0.0, None)
        s = p.sum(axis=1, keepdims=True)
        return np.where(s > 0, p / np.where(s > 0, s, 1.0), 1.0 / p.shape[1])

    def predict(self, x: Any) -> np.ndarray:
        """The most probable person per row (array of str)."""
        p = self.predict_proba(x)
        return np.array(self.classes_, dtype=object)[p.argmax(axis=1)] if len(p) else np.array([], dtype=object)

    def score(self, x: Any, y: Sequence[Any]) -> float:
        """Accuracy on (x, y)."""
        return float(np.mean(self.predict(x) == np.array([str(v) for v in y], dtype=object)))

    # -- subclass hooks -------------------------------------------------------------------------------------

    def _fit(self, x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], bytes]:
        """(json-able fitted state, payload bytes) for to_bytes."""
        raise NotImplementedError  # pragma: no cover

    def _restore(self, state: dict[str, Any], payload: bytes) -> None:
        raise NotImplementedError  # pragma: no cover

    # -- serialisation --------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The fitted classifier as bytes: a JSON header (kind, parameters, classes, calibration) and a payload
        (a pickle of the scikit-learn estimator; numpy arrays for the linear head). Read with
        `classifier_from_bytes`. Unpickling runs code: only load classifiers from galleries you trust."""
        self._check_fitted()
        state, payload = self._state()
        header = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "params": self.get_params(),
            "classes": list(self.classes_),
            "n_features_in": self.n_features_in_,
            "n_samples": self.n_samples_,
            "class_counts": [int(c) for c in self.class_counts_],
            "calibration": self.calibration_,
            "fit_seconds": self.fit_seconds_,
            "state": state,
        }
        head = json.dumps(header).encode()
        return MAGIC + struct.pack("<I", len(head)) + head + payload

    @property
    def calibrated(self) -> bool:
        self._check_fitted()
        return self.calibration_ != "none"


def _read_header(data: bytes) -> tuple[dict[str, Any], bytes]:
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[: len(MAGIC)]) != MAGIC:
        raise ValueError("not a faceprint classifier (bad magic bytes)")
    data = bytes(data)
    (n,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = json.loads(data[start : start + n])
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(f"classifier format {header.get('format')!r} is not supported (expected {FORMAT_VERSION})")
    return header, data[start + n :]


def classifier_from_bytes(data: bytes) -> EmbeddingClassifier:
    """Rebuild a classifier written by `EmbeddingClassifier.to_bytes`."""
    header, payload = _read_header(data)
    clf = create_classifier(header["kind"], **header["params"])
    clf.classes_ = list(header["classes"])
    clf.n_features_in_ = int(header["n_features_in"])
    clf.n_samples_ = int(header["n_samples"])
    clf.class_counts_ = np.array(header["class_counts"], np.int64)
    clf.calibration_ = header["calibration"]
    clf.fit_seconds_ = float(header["fit_seconds"])
    clf._restore(header["state"], payload)
    return clf


# -- scikit-learn kinds -----------------------------------------------------------------------------------------


class _SklearnClassifier(EmbeddingClassifier):
    """An sklearn estimator, wrapped in CalibratedClassifierCV(ensemble=False) when every class has >= cv samples."""

    calibration: str
    cv: int
    random_state: int
    normalize: bool

    def _base_estimator(self, n_samples: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prep(self, x: np.ndarray) -> np.ndarray:
        return _l2_normalize(x) if self.normalize else x

    def _fit(self, x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> None:
        _sklearn()
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold

        if self.calibration not in ("sigmoid", "isotonic", "temperature", "none"):
            raise ValueError(f"unknown calibration {self.calibration!r}; choose sigmoid, isotonic, temperature or none")
        x = self._prep(x)
        method = self.calibration
        if method != "none" and counts.min() < max(self.cv, 2):
            log.warning(
                "%s classifier: the smallest class has %d sample(s), fewer than the %d that cross-validated "
                "calibration needs; probabilities are NOT calibrated", self.kind, counts.min(), max(self.cv, 2)
            )
            method = "none"
        if method == "none":
            est = self._base_estimator(len(x))
        else:
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            train_size = len(x) - int(np.ceil(len(x) / self.cv))
            est = CalibratedClassifierCV(self._base_estimator(train_size), method=method, cv=folds, ensemble=False)
        est.fit(x, y)
        self.estimator_ = est
        self.calibration_ = method

    def _raw_proba(self, est: Any, x: np.ndarray) -> np.ndarray:  # uncalibrated fallback
        return est.predict_proba(x)

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = self._prep(x)
        est = self.estimator_
        p = est.predict_proba(x) if self.calibration_ != "none" else self._raw_proba(est, x)
        out = np.zeros((len(x), len(self.classes_)))
        out[:, np.asarray(est.classes_, dtype=np.int64)] = p
        return out

    def _state(self) -> tuple[dict[str, Any], bytes]:
        sk = _sklearn()
        return {"sklearn": sk.__version__}, pickle.dumps(self.estimator_, protocol=pickle.HIGHEST_PROTOCOL)

    def _restore(self, state: dict[str, Any], payload: bytes) -> None:
        sk = _sklearn()
        if state.get("sklearn") != sk.__version__:
            log.warning("classifier was pickled with scikit-learn %s, loading it with %s; refit if it misbehaves",
                        state.get("sklearn"), sk.__version__)
        self.estimator_ = pickle.loads(payload)


class KNNClassifier(_SklearnClassifier):
    """k nearest neighbours (distance-weighted votes) on the raw embeddings, with the gallery's metric.

    n_neighbors is capped at the number of training samples (of a cross-validation fold when calibrating).
    """

    kind = "knn"

    def __init__(self, n_neighbors: int = 7, weights: str = "distance", metric: str = "euclidean",
                 calibration: str = "sigmoid", cv: int = 3, normalize: bool = False, random_state: int = 0) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric
        self.calibration = calibration
        self.cv = cv
        self.normalize = normalize
        self.random_state = random_state

    def _base_estimator(self, n_samples: int) -> Any:
        _sklearn()
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=max(1, min(self.n_neighbors, n_samples)), weights=self.weights,
                                    metric=self.metric)


class SVMClassifier(_SklearnClassifier):
    """Support vector machine (scikit-learn SVC, linear kernel by default) on L2-normalised embeddings.

    Uncalibrated fallback (tiny classes): a softmax over the one-vs-rest decision values.
    """

    kind = "svm"

    def __init__(self, kernel: str = "linear", C: float = 1.0, gamma: str | float = "scale",
                 calibration: str = "sigmoid", cv: int = 3, normalize: bool = True, random_state: int = 0) -> None:
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.calibration = calibration
        self.cv = cv
        self.normalize = normalize
        self.random_state = random_state

    def _base_estimator(self, n_samples: int) -> Any:
        _sklearn()
        from sklearn.svm import SVC

        return SVC(kernel=self.kernel, C=self.C, gamma=self.gamma, decision_function_shape="ovr",
                   random_state=self.random_state)

    def _raw_proba(self, est: Any, x: np.ndarray) -> np.ndarray:
        d = est.decision_function(x)
        if d.ndim == 1:  # binary: one signed margin for the second class
            d = np.stack([-d, d], axis=1) / 2.0
        return _softmax(d)


# -- the torch linear head --------------------------------------------------------------------------------------


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (golden-section search on log T)."""

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    lo, hi = np.log(0.01), np.log(100.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


class LinearHeadClassifier(EmbeddingClassifier):
    """A softmax layer (torch.nn.Linear(D, C)) on L2-normalised frozen embeddings, temperature-scaled.

    Training: cross-entropy, Adam(lr, weight_decay), `steps` updates, full batch when N <= batch_size else
    random mini-batches, everything seeded by `seed` (the global torch RNG is left as it was).

    Calibration: a stratified `holdout` fraction of the faces of every person with at least 3 faces is held
    out; a first model is trained on the rest and the temperature T is fitted on its held-out logits; the
    final model is then trained on all faces with the same settings and uses that T.
    """

    kind = "linear"
    min_holdout: ClassVar[int] = 10

    def __init__(self, steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-4, batch_size: int = 1024,
                 holdout: float = 0.25, calibration: str = "temperature", seed: int = 0) -> None:
        self.steps = steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.holdout = holdout
        self.calibration = calibration
        self.seed = seed

    def _train(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            gen = torch.Generator().manual_seed(self.seed)
            layer = torch.nn.Linear(x.shape[1], n_classes)
            opt = torch.optim.Adam(layer.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            yt = torch.from_numpy(y.astype(np.int64))
            full = len(x) <= self.batch_size
            for _ in range(self.steps):
                if full:
                    xb, yb = xt, yt
                else:
                    sel = torch.randint(0, len(x), (self.batch_size,), generator=gen)
                    xb, yb = xt[sel], yt[sel]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(layer(xb), yb)
                loss.backward()
                opt.step()
            return layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()

    def _fit(self, x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> None:
        if self.calibration not in ("temperature", "none"):
            raise ValueError(f"unknown calibration {self.calibration!r}; choose temperature or none")
        _torch()
        x = _l2_normalize(x)
        n_classes = len(counts)
        temperature, method = 1.0, "none"
        if self.calibration == "temperature":
            rng = np.random.default_rng(self.seed)
            held = np.zeros(len(y), bool)
            for c in np.flatnonzero(counts >= 3):
                rows = np.flatnonzero(y == c)
                k = min(max(1, int(round(self.holdout * len(rows)))), len(rows) - 2)
                held[rng.choice(rows, k, replace=False)] = True
            if held.sum() < self.min_holdout:
                log.warning("linear classifier: only %d face(s) can be held out for temperature scaling (need %d, "
                            "from people with >= 3 faces); probabilities are NOT calibrated", held.sum(),
                            self.min_holdout)
            else:
                w, b = self._train(x[~held], y[~held], n_classes)
                temperature = _fit_temperature(x[held] @ w.T + b, y[held])
                method = "temperature"
        self.weight_, self.bias_ = self._train(x, y, n_classes)
        self.temperature_ = float(temperature)
        self.calibration_ = method

    def logits(self, x: Any) -> np.ndarray:
        """Uncalibrated logits (N, C)."""
        arr = self._validate_predict(x)
        return _l2_normalize(arr) @ self.weight_.T + self.bias_

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        return _softmax((_l2_normalize(x) @ self.weight_.T + self.bias_) / self.temperature_)

    def _state(self) -> tuple[dict[str, Any], bytes]:
        buf = io.BytesIO()
        np.savez(buf, weight=self.weight_.astype(np.float32), bias=self.bias_.astype(np.float32))
        return {"temperature": self.temperature_}, buf.getvalue()

    def _restore(self, state: dict[str, Any], payload: bytes) -> None:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            self.weight_ = z["weight"]
            self.bias_ = z["bias"]
        self.temperature_ = float(state["temperature"])


# -- factory ----------------------------------------------------------------------------------------------------

_KINDS: dict[str, type[EmbeddingClassifier]] = {"knn": KNNClassifier, "svm": SVMClassifier, "linear": LinearHeadClassifier}


def create_classifier(kind: str, **kwargs: Any) -> EmbeddingClassifier:
    """A new, unfitted classifier of `kind` ("knn", "svm" or "linear") with the given parameters."""
    try:
        cls = _KINDS[kind]
    except KeyError:
        raise UnknownModel("classifier", kind, list(CLASSIFIER_KINDS)) from None
    return cls(**kwargs)


# -- in the gallery ---------------------------------------------------------------------------------------------


def classifier_key(model: str, kind: str) -> str:
    """The gallery blob key of the `kind` classifier of `model`."""
    return f"classifier:{model}:{kind}"


def fit_from_gallery(gallery: Any, model: str, kind: str, **params: Any) -> EmbeddingClassifier:
    """Fit a `kind` classifier on every embedding of `model` in the gallery (labels: person names).

    Remembers the gallery state it saw (read before the embeddings, so an edit racing with the fit makes the
    saved classifier look stale, never fresh) for `save_classifier`.
    """
    clf = create_classifier(kind, **params)
    state = gallery.state(model)
    emb = gallery.embeddings(model)
    labels = emb.labels()
    people = sorted(set(labels))
    if len(people) < 2:
        raise GalleryError(
            f"{gallery.path}: a classifier needs at least two people enrolled with model {model!r}; "
            f"found {len(people)} ({', '.join(people)})"
        )
    clf.fit(emb.vectors, labels)
    clf.gallery_state_ = (model, state)  # type: ignore[attr-defined]
    return clf


def save_classifier(gallery: Any, model: str, clf: EmbeddingClassifier) -> str:
    """Store a fitted classifier in the gallery under `classifier:{model}:{kind}`; returns the key.

    The meta records the gallery state the classifier was fitted on (the state `fit_from_gallery` saw, else
    the gallery's current state(model)), so `load_classifier` can tell when it has gone stale.
    """
    clf._check_fitted()
    if clf.kind not in CLASSIFIER_KINDS:
        raise UnknownModel("classifier", clf.kind, list(CLASSIFIER_KINDS))
    fitted = getattr(clf, "gallery_state_", None)
    state = fitted[1] if fitted is not None and fitted[0] == model else gallery.state(model)
    meta: dict[str, object] = {
        "kind": clf.kind,
        "model": model,
        "state": state,
        "n_samples": clf.n_samples_,
        "classes": list(clf.classes_),
        "created": time.time(),
        "params": clf.get_params(),
        "calibration": clf.calibration_,
    }
    key = classifier_key(model, clf.kind)
    gallery.put_blob(key, meta, clf.to_bytes())
    return key


def load_classifier(
    gallery: Any, model: str, kind: str, stale: Literal["refit", "refuse"] = "refit"
) -> EmbeddingClassifier:
    """The stored `kind` classifier of `model`.

    When the gallery changed since it was fitted: with stale="refit", fit it again on the current gallery (same
    parameters), store it and return it; with stale="refuse", raise StaleClassifier. A missing classifier
    raises GalleryError telling how to fit one.
    """
    if kind not in CLASSIFIER_KINDS:
        raise UnknownModel("classifier", kind, list(CLASSIFIER_KINDS))
    if stale not in ("refit", "refuse"):
        raise ValueError(f"stale must be 'refit' or 'refuse', got {stale!r}")
    blob = gallery.get_blob(classifier_key(model, kind))
    if blob is None:
        raise GalleryError(
            f"{gallery.path}: no {kind} classifier for model {model!r} in the gallery; "
            f"fit one with `faceprint fit-classifier --kind {kind}`"
        )
    meta, data = blob
    current = gallery.state(model)
    if meta.get("state") == current:
        return classifier_from_bytes(data)
    if stale == "refuse":
        raise StaleClassifier(
            f"{gallery.path}: the {kind} classifier for model {model!r} is stale: it was fitted on "
            f"{meta.get('n_samples')} faces of {len(meta.get('classes', []))} people, and the gallery has changed "
            f"since; refit it with `faceprint fit-classifier --kind {kind}`"
        )
    log.info("the %s classifier of %s is stale (gallery changed); refitting", kind, model)
    params = meta.get("params")
    clf = fit_from_gallery(gallery, model, kind, **(params if isinstance(params, dict) else {}))
    save_classifier(gallery, model, clf)
    return clf
