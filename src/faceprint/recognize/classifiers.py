"""Classifiers on frozen embeddings: the transfer-learning step of recognition.

The embedding network stays fixed; a small classifier learns the enrolled people from their gallery embeddings.
Three kinds, with scikit-learn conventions (``fit`` returns self, learned attributes end in ``_``, using an
unfitted classifier raises :class:`faceprint.errors.NotFittedError`):

``knn``
    k nearest neighbours with distance-weighted votes (scikit-learn ``KNeighborsClassifier``) on the raw
    embeddings, with the gallery's euclidean metric; its logits are the log vote shares.
``svm``
    a one-vs-rest linear support vector machine (scikit-learn ``LinearSVC``) on L2-normalised embeddings; its
    logits are the per-person margins.
``linear``
    a softmax layer ``torch.nn.Linear(D, C)`` trained with cross-entropy (Adam, weight decay, fixed seed) on
    L2-normalised embeddings. Predicting needs numpy only: the fitted weights are stored as numpy arrays.

Calibration, the same for every kind (``calibration="temperature"``, the default): ``cv`` cross-fitted copies
of the classifier give out-of-fold logits for the enrolled faces, one temperature T is fitted to them by maximum
likelihood, and the classifier is refitted on every face; probabilities are softmax(logits / T). Dividing by T
never changes which person is most probable; it only sharpens or softens the probabilities. People with a single face
are never held out (they stay in every training fold). ``calibration="none"`` uses T = 1.

Why temperature scaling (figures printed by ``python bench/classifiers.py``, on the 81 LFW View 1 people with at
least 5 photos, 60% of them enrolled: 3 faces for most people): it never changes a prediction, works with any
number of faces per person, and took the expected calibration error (ECE) of the svm from 0.91 to 0.025 and of
the linear head from 0.56 to 0.015. scikit-learn's one-vs-rest Platt sigmoid needs ``cv`` faces of every person (it
could not run on 30 of the 80 people), and on the 50 it could run on it left an ECE of 0.24 (knn) and 0.30 (svm)
where temperature scaling left 0.000 and 0.007. Distance-weighted kNN votes are close to calibrated already:
there, temperature scaling did not help (ECE 0.16, against 0.12 uncalibrated).

Storing fitted classifiers in a gallery, and refitting them when the gallery changes, is
`faceprint.gallery.classifier_store`.
"""

from __future__ import annotations

import inspect
import io
import logging
import pickle
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from faceprint._extras import optional_module
from faceprint.errors import NotFittedError, UnknownModel

__all__ = [
    "CLASSIFIER_KINDS",
    "EmbeddingClassifier",
    "KNNClassifier",
    "SVMClassifier",
    "LinearHeadClassifier",
    "create_classifier",
    "expected_calibration_error",
]

log = logging.getLogger(__name__)

CLASSIFIER_KINDS = ("knn", "svm", "linear")
CALIBRATIONS = ("temperature", "none")
MIN_HELD_OUT = 10
"""Temperature scaling is skipped (with a warning) when fewer faces than this can be held out."""


# -- helpers ----------------------------------------------------------------------------------------------------




def _l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: over equal-width confidence bins, the sum of |accuracy - mean confidence| x bin weight.

    `confidence` is the probability given to each predicted answer, `correct` whether that answer was right.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def _calibration_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A fold number per sample for cross-fitted calibration, -1 for samples never held out.

    Stratified round-robin within each person from a random start; people with a single face are never held
    out, and no fold holds out every face of a person, so every fold's model knows every person.
    """
    rng = np.random.default_rng(seed)
    fold = np.full(len(y), -1, np.int64)
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        if len(rows) >= 2:
            fold[rows] = (int(rng.integers(n_folds)) + np.arange(len(rows))) % n_folds
    return fold


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T in [1e-3, 1e3] minimising the NLL of softmax(logits / T) (golden-section on log T)."""

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    lo, hi = np.log(1e-3), np.log(1e3)
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


# -- the base class ---------------------------------------------------------------------------------------------


class EmbeddingClassifier:
    """Validation, temperature calibration and prediction shared by every kind.

    Subclasses implement `_train(x, y, n_classes) -> model`, `_logits(model, x)`, and `_dump(model)` and `_load`
    (the model's bytes inside the container of `faceprint.gallery.classifier_store.classifier_to_bytes`).
    Labels are person names: `classes_` is the sorted list of the distinct labels given to `fit`, and column j
    of `predict_proba` is the probability of `classes_[j]`.
    """

    kind: ClassVar[str] = ""
    normalize: ClassVar[bool] = True
    """Whether the kind works on L2-normalised embeddings."""
    calibration: str
    cv: int
    random_state: int

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (scikit-learn style: each is an attribute of the same name)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- validation -------------------------------------------------------------------------------------------

    @staticmethod
    def _validate_x(x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"X must hold numbers, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ValueError("X contains NaN or infinite values")
        return arr

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def _prep(self, x: np.ndarray) -> np.ndarray:
        return _l2_normalize(x) if self.normalize else x

    # -- the API ----------------------------------------------------------------------------------------------

    def fit(self, x: Any, y: Sequence[Any]) -> EmbeddingClassifier:
        """Learn the people in `y` (names) from their embeddings `x` (N, D); returns self."""
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"unknown calibration {self.calibration!r}; choose one of: {', '.join(CALIBRATIONS)}")
        if self.cv < 2:
            raise ValueError(f"cv must be at least 2, got {self.cv}")
        arr = self._validate_x(x)
        labels = [str(v) for v in (y.tolist() if isinstance(y, np.ndarray) else y)]
        if len(labels) != len(arr):
            raise ValueError(f"X has {len(arr)} rows but y has {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"a classifier needs at least 2 classes (people), got {len(classes)}")
        pos = {c: i for i, c in enumerate(classes)}
        y_idx = np.array([pos[v] for v in labels], np.int64)

        self.__dict__.pop("gallery_state_", None)  # set again by fit_from_gallery
        t0 = time.perf_counter()
        xp = self._prep(arr)
        temperature, method = 1.0, "none"
        if self.calibration == "temperature":
            fold = _calibration_folds(y_idx, self.cv, self.random_state)
            held = fold >= 0
            if held.sum() < MIN_HELD_OUT:
                log.warning("%s classifier: only %d face(s) can be held out for temperature scaling (need %d, from "
                            "people with >= 2 faces); probabilities are NOT calibrated", self.kind, held.sum(),
                            MIN_HELD_OUT)
            else:
                oof = np.zeros((len(xp), len(classes)))
                for f in range(self.cv):
                    test = fold == f
                    if test.any():
                        oof[test] = self._logits(self._train(xp[~test], y_idx[~test], len(classes)), xp[test])
                temperature, method = _fit_temperature(oof[held], y_idx[held]), "temperature"
        self.model_ = self._train(xp, y_idx, len(classes))
        self.temperature_ = float(temperature)
        self.calibration_ = method
        self.fit_seconds_ = time.perf_counter() - t0
        self.classes_ = classes
        self.n_features_in_ = int(arr.shape[1])
        self.n_samples_ = int(arr.shape[0])
        return self

    def logits(self, x: Any) -> np.ndarray:
        """Uncalibrated scores (N, C), columns in the order of `classes_`."""
        self._check_fitted()
        arr = self._validate_x(x)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {arr.shape[1]} features, but the classifier was fitted with {self.n_features_in_}")
        return np.asarray(self._logits(self.model_, self._prep(arr)), dtype=np.float64)

    def predict_proba(self, x: Any) -> np.ndarray:
        """(N, C) calibrated probabilities, columns in the order of `classes_`; each row sums to 1."""
        return _softmax(self.logits(x) / self.temperature_)

    def predict(self, x: Any) -> np.ndarray:
        """The most probable person per row (array of str)."""
        best = self.logits(x).argmax(axis=1)
        return np.array(self.classes_, dtype=object)[best]

    def score(self, x: Any, y: Sequence[Any]) -> float:
        """Accuracy on (x, y)."""
        return float(np.mean(self.predict(x) == np.array([str(v) for v in y], dtype=object)))

    # -- subclass hooks ---------------------------------------------------------------------------------------

    def _train(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _logits(self, model: Any, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _dump(self, model: Any) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self, payload: bytes) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


# -- the kinds --------------------------------------------------------------------------------------------------


class _SklearnClassifier(EmbeddingClassifier):
    """A scikit-learn estimator, stored as a pickle (with a warning when loaded by another scikit-learn)."""

    def _dump(self, model: Any) -> bytes:
        return pickle.dumps({"sklearn": optional_module("sklearn", "scikit-learn").__version__, "estimator": model}, protocol=pickle.HIGHEST_PROTOCOL)

    def _load(self, payload: bytes) -> Any:
        obj = pickle.loads(payload)
        if obj["sklearn"] != optional_module("sklearn", "scikit-learn").__version__:
            log.warning("classifier was pickled with scikit-learn %s, loading it with %s; refit if it misbehaves",
                        obj["sklearn"], optional_module("sklearn", "scikit-learn").__version__)
        return obj["estimator"]


class KNNClassifier(_SklearnClassifier):
    """k nearest neighbours (distance-weighted votes) on the raw embeddings; logits are log vote shares.

    `n_neighbors` is capped at the number of training faces; a small k suits galleries with few faces per person.
    """

    kind = "knn"
    normalize = False

    def __init__(self, n_neighbors: int = 3, metric: str = "euclidean", calibration: str = "temperature", cv: int = 3,
                 random_state: int = 0) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state

    def _train(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> Any:
        optional_module("sklearn", "scikit-learn")
        from sklearn.neighbors import KNeighborsClassifier

        k = max(1, min(self.n_neighbors, len(x)))
        return KNeighborsClassifier(n_neighbors=k, weights="distance", metric=self.metric).fit(x, y)

    def _logits(self, model: Any, x: np.ndarray) -> np.ndarray:
        # every model here saw every class (see _calibration_folds), so the columns are 0..C-1; a class with no
        # vote gets log(1e-12), which a temperature T > 1 can still lend some probability
        return np.log(model.predict_proba(x) + 1e-12)


class SVMClassifier(_SklearnClassifier):
    """One-vs-rest linear SVM (scikit-learn LinearSVC) on L2-normalised embeddings; logits are the margins."""

    kind = "svm"

    def __init__(self, C: float = 10.0, calibration: str = "temperature", cv: int = 3, random_state: int = 0) -> None:
        self.C = C
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state

    def _train(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> Any:
        optional_module("sklearn", "scikit-learn")
        from sklearn.svm import LinearSVC

        return LinearSVC(C=self.C, max_iter=10_000, random_state=self.random_state).fit(x, y)

    def _logits(self, model: Any, x: np.ndarray) -> np.ndarray:
        d = model.decision_function(x)
        return np.stack([-d, d], axis=1) if d.ndim == 1 else d  # two people: one signed margin


class LinearHeadClassifier(EmbeddingClassifier):
    """A softmax layer (torch.nn.Linear(D, C)) trained with cross-entropy on L2-normalised frozen embeddings.

    Training: Adam(lr, weight_decay), `steps` updates, full batch when N <= batch_size, else random
    mini-batches; seeded by `random_state` (the global torch RNG is left as it was).
    """

    kind = "linear"

    def __init__(self, steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-4, batch_size: int = 1024,
                 calibration: str = "temperature", cv: int = 3, random_state: int = 0) -> None:
        self.steps = steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state

    def _train(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        torch = optional_module("torch")
        threads = torch.get_num_threads()
        with torch.random.fork_rng(devices=[]):
            try:
                # A layer this small trains fastest on one thread, above all on a busy machine.
                torch.set_num_threads(1)
                torch.manual_seed(self.random_state)
                gen = torch.Generator().manual_seed(self.random_state)
                layer = torch.nn.Linear(x.shape[1], n_classes)
                opt = torch.optim.Adam(layer.parameters(), lr=self.lr, weight_decay=self.weight_decay)
                xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
                yt = torch.from_numpy(y.astype(np.int64))
                for _ in range(self.steps):
                    if len(x) <= self.batch_size:
                        xb, yb = xt, yt
                    else:
                        sel = torch.randint(0, len(x), (self.batch_size,), generator=gen)
                        xb, yb = xt[sel], yt[sel]
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(layer(xb), yb).backward()
                    opt.step()
                return layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()
            finally:
                torch.set_num_threads(threads)

    def _logits(self, model: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
        weight, bias = model
        return x @ weight.T + bias

    def _dump(self, model: tuple[np.ndarray, np.ndarray]) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, weight=model[0].astype(np.float32), bias=model[1].astype(np.float32))
        return buf.getvalue()

    def _load(self, payload: bytes) -> tuple[np.ndarray, np.ndarray]:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            return z["weight"], z["bias"]


_KINDS: dict[str, type[EmbeddingClassifier]] = {"knn": KNNClassifier, "svm": SVMClassifier, "linear": LinearHeadClassifier}


def create_classifier(kind: str, **params: Any) -> EmbeddingClassifier:
    """A new, unfitted classifier of `kind` ("knn", "svm" or "linear") with the given parameters."""
    try:
        cls = _KINDS[kind]
    except KeyError:
        raise UnknownModel("classifier", kind, list(CLASSIFIER_KINDS)) from None
    return cls(**params)
