"""The public API: one import, one call per task.

    >>> import faceprint
    >>> faceprint.verify("a.jpg", "b.jpg").same                       # doctest: +SKIP
    >>> faceprint.embed("group.jpg")[0].vector.shape                   # doctest: +SKIP
    >>> with faceprint.Gallery("people.sqlite") as g:                  # doctest: +SKIP
    ...     g.enroll("Ada", ["ada/"])
    ...     print(g.identify("party.jpg"))

Images are anything `faceprint.load_image` takes: a path, bytes, a binary file object, a PIL image or a numpy array
(arrays are RGB; pass ``bgr=True`` for OpenCV's BGR frames). Models are built once per process and reused: they
live in ``faceprint.analyzers``, an object you can look at and clear, not in a hidden cache.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from faceprint.analyzer import FaceAnalyzer, detect_scaled
from faceprint.detect import DEFAULT_DETECTOR, Detector, create_detector
from faceprint.errors import NoFaceFound, UnknownModel, WeightsError
from faceprint.gallery.audit import record
from faceprint.gallery.enroll import EnrollReport, enroll as _enroll_items, source_label
from faceprint.gallery.store import FaceRecord, GalleryStore, PersonInfo, Removed, open_store
from faceprint.gallery.store.base import FollowedVectors
from faceprint.image import ImageSource, load_image
from faceprint.names import lookup_name, person_name
from faceprint.models import DEFAULT_MODEL, get_model_spec
from faceprint.recognize.identifier import Identifier
from faceprint.recognize.open_set import DEFAULT_FAR, OpenSetThreshold
from faceprint.recognize.score_law import check_far
from faceprint.gallery.identify import build_identifier
from faceprint.recognize.images import FaceResult, expand_paths, identify_images
from faceprint.types import Face, FaceEmbedding

__all__ = ["Analyzers", "Gallery", "Verification", "analyzers", "detect", "embed", "verify"]


class Analyzers:
    """The detector + model pipelines built in this process, by (model, detector), each built on first use.

    ``faceprint.analyzers`` is the one the top-level functions use, so repeated ``faceprint.verify`` calls load
    the networks once. Hold your own ``FaceAnalyzer`` instead to control its lifetime, or call ``clear()``.

    >>> faceprint.analyzers.get("dlib-resnet-v1")          # doctest: +SKIP
    >>> faceprint.analyzers                                 # doctest: +SKIP
    Analyzers(['dlib-resnet-v1 + mtcnn'])
    """

    def __init__(self) -> None:
        self._built: dict[tuple[str, str], FaceAnalyzer] = {}
        self._detectors: dict[str, Detector] = {}
        self._lock = threading.RLock()

    def detector(self, name: str | None = None) -> Detector:
        """The detector `name` (default mtcnn), built on first use and shared by this object's analyzers."""
        name = name or DEFAULT_DETECTOR
        with self._lock:
            if name not in self._detectors:
                self._detectors[name] = create_detector(name)
            return self._detectors[name]

    def get(
        self, model: str | None = None, detector: str | None = None, weights: str | os.PathLike[str] | None = None
    ) -> FaceAnalyzer:
        """The analyzer for `model` (default dlib-resnet-v1) and `detector` (default mtcnn), built on first use.

        `weights`: a training checkpoint of `model`. Keyed by the model's resolved name, which for a checkpoint
        holds its file's digest, so a checkpoint rewritten since is built anew.
        """
        name = get_model_spec(model or DEFAULT_MODEL, weights).name
        key = (name, detector or DEFAULT_DETECTOR)
        with self._lock:
            if key not in self._built:
                self._built[key] = FaceAnalyzer(model=model or DEFAULT_MODEL, detector=self.detector(key[1]), weights=weights)
            return self._built[key]

    def clear(self) -> None:
        """Forget every built analyzer (their memory is freed once nothing else holds them)."""
        with self._lock:
            self._built.clear()
            self._detectors.clear()

    def __len__(self) -> int:
        return len(self._built)

    def __repr__(self) -> str:
        return f"Analyzers({[f'{m} + {d}' for m, d in self._built]})"


analyzers = Analyzers()
"""The analyzers that `verify`, `detect`, `embed` and `Gallery` share in this process."""


def _analyzer(
    model: str | None, detector: str | None, analyzer: FaceAnalyzer | None, weights: str | os.PathLike[str] | None = None
) -> FaceAnalyzer:
    if analyzer is not None:
        if model is not None or detector is not None or weights is not None:
            raise ValueError("pass either analyzer= or model=/detector=/weights=, not both")
        return analyzer
    return analyzers.get(model, detector, weights)


def detect(
    image: ImageSource, *, detector: str | None = None, bgr: bool = False, analyzer: FaceAnalyzer | None = None
) -> list[Face]:
    """Every face in an image, largest first: box (x1, y1, x2, y2 pixels), score in [0, 1] and five landmarks.

    Args:
        image: path, bytes, binary file object, PIL image or RGB array (``bgr=True`` for OpenCV arrays).
        detector: ``yunet`` (the default, DEFAULT_DETECTOR) or another name from ``faceprint.detect.list_detectors()``.

    Raises:
        ImageError: the image cannot be read. UnknownModel: no such detector.

    >>> faces = faceprint.detect("group.jpg")                # doctest: +SKIP
    >>> [round(f.score, 2) for f in faces]                   # doctest: +SKIP
    [1.0, 0.99]
    """
    if analyzer is not None:
        if detector is not None:
            raise ValueError("pass either analyzer= or detector=, not both")
        return analyzer.detect(analyzer.load(image, bgr=bgr))
    return detect_scaled(analyzers.detector(detector), load_image(image, bgr=bgr))


def embed(
    image: ImageSource,
    *,
    model: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    detector: str | None = None,
    bgr: bool = False,
    analyzer: FaceAnalyzer | None = None,
) -> list[FaceEmbedding]:
    """Every face in an image, largest first, with its embedding.

    Each item has ``box``, ``score``, ``landmarks`` (5x2), ``vector`` (1-D float32 numpy) and ``model``. An image
    without a face gives an empty list.

    Args:
        image: path, bytes, binary file object, PIL image or RGB array (``bgr=True`` for OpenCV arrays).
        model: a name from ``faceprint.list_models()`` (default dlib-resnet-v1).
        weights: a training checkpoint of `model` (``RUN_DIR/best.pt``) to use instead of its pretrained weights.

    >>> faces = faceprint.embed("group.jpg")                  # doctest: +SKIP
    >>> faces[0].vector.shape, faces[0].model                 # doctest: +SKIP
    ((128,), 'dlib-resnet-v1')
    """
    return _analyzer(model, detector, analyzer, weights).get(image, bgr=bgr)


@dataclass(frozen=True)
class Verification:
    """The verdict on two photos: are they the same person?"""

    same: bool
    """distance <= threshold."""
    distance: float
    threshold: float
    model: str
    face1: FaceEmbedding
    """The face used from the first image (its largest)."""
    face2: FaceEmbedding

    def __bool__(self) -> bool:
        return self.same

    def __repr__(self) -> str:
        return (
            f"Verification(same={self.same}, distance={self.distance:.4f}, threshold={self.threshold:.4f}, "
            f"model={self.model!r})"
        )


def check_threshold(threshold: float | None) -> float | None:
    """The one rule for a distance threshold, in the API, the CLI (cli/_common.py) and the service: a finite number
    >= 0 (0 accepts only identical vectors); None means the model's own. Raises ValueError otherwise."""
    if threshold is not None and (not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold < 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    return threshold


def verify(
    image1: ImageSource,
    image2: ImageSource,
    *,
    model: str | None = None,
    threshold: float | None = None,
    weights: str | os.PathLike[str] | None = None,
    detector: str | None = None,
    bgr: bool = False,
    analyzer: FaceAnalyzer | None = None,
) -> Verification:
    """Whether two photos show the same person, comparing the largest face of each.

    Args:
        image1, image2: path, bytes, binary file object, PIL image or RGB array (``bgr=True`` for OpenCV arrays).
        model: embedding model (default dlib-resnet-v1); weights: a training checkpoint of it.
        threshold: distance at or below which the faces are the same person; default the model's threshold,
            calibrated on LFW View 1 DevTrain (a checkpoint's: on its run's held-out people).

    Raises:
        NoFaceFound: an image has no face (the error names which). ImageError: an image cannot be read.

    >>> result = faceprint.verify("a.jpg", "b.jpg")            # doctest: +SKIP
    >>> result.same, round(result.distance, 3)                 # doctest: +SKIP
    (True, 0.412)
    """
    check_threshold(threshold)
    a = _analyzer(model, detector, analyzer, weights)
    faces = []
    for i, img in enumerate((image1, image2), start=1):
        found = a.get(img, bgr=bgr)
        if not found:
            raise NoFaceFound(_label(img, f"<image{i}>"))
        faces.append(found[0])
    thr = a.embedder.spec.threshold if threshold is None else float(threshold)
    d = faces[0].distance(faces[1])
    return Verification(d <= thr, d, thr, a.model, faces[0], faces[1])


def _label(image: ImageSource, default: str) -> str:
    label = source_label(image)
    return default if label.startswith("<") else label


class Gallery:
    """A gallery of enrolled people, with enrolment and identification in one call each.

    It holds a store (``.store``: a SQLite file or a PostgreSQL database, faceprint.gallery.store) and the pipeline
    of one model: ``model`` (default dlib-resnet-v1) embeds what you enrol and what you identify. Use it as a
    context manager to close the store.

    >>> with faceprint.Gallery("people.sqlite") as g:               # doctest: +SKIP
    ...     report = g.enroll("Ada", ["ada1.jpg", "ada2.jpg"])
    ...     for face in g.identify("party.jpg"):
    ...         print(face.person or "UNKNOWN", face.distance)

    Args:
        path: the gallery file (created when missing), or a ``postgresql://user@host:port/db`` URL; default
            ``$FACEPRINT_GALLERY`` or the user's data folder.
        model, detector: the pipeline; the gallery may hold embeddings of several models.
        weights: a training checkpoint of `model`. A gallery enrolled with one records where its weights were, so a
            later process can reopen it with ``model="<base>@<digest>"`` (the name it was stored under) alone.
        create: False refuses a missing file instead of creating it.
        analyzer: use this FaceAnalyzer instead of the shared ``faceprint.analyzers``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        model: str | None = None,
        weights: str | os.PathLike[str] | None = None,
        detector: str | None = None,
        create: bool = True,
        timeout: float = 10.0,
        analyzer: FaceAnalyzer | None = None,
    ) -> None:
        self.store: GalleryStore = open_store(path, timeout=timeout, create=create)
        """The database: people, faces, vectors, crops and settings (faceprint.gallery.store.GalleryStore)."""
        self._model, self._weights, self._detector, self._own_analyzer = model, weights, detector, analyzer
        self._identifier: tuple[tuple[object, ...], Identifier] | None = None
        self._vectors: FollowedVectors | None = None
        """The model's vectors as this object last read them; followed, not read again, as the gallery changes."""

    def _pipeline(self) -> tuple[str | None, str | os.PathLike[str] | None]:
        """(model, weights) to build. A checkpoint's ``<base>@<digest>`` name that this process has not read is
        found through the identity record the gallery kept when it was enrolled (its weights' path)."""
        if self._weights is not None or self._model is None or "@" not in self._model:
            return self._model, self._weights
        try:
            get_model_spec(self._model)
            return self._model, None
        except UnknownModel:
            record = self.store.model_record(self._model)
            if record is None or record.weights_path is None:
                raise
        base = self._model.split("@", 1)[0]
        if base.startswith("onnx:"):  # a model file the user brought: its path is the model
            base, weights = f"onnx:{record.weights_path}", None
        else:
            weights = record.weights_path
        if get_model_spec(base, weights).name != self._model:
            raise WeightsError(
                f"{record.weights_path}: the checkpoint enrolled as {self._model} has been rewritten since; "
                "give the weights it was enrolled with (weights=PATH)"
            )
        return base, weights

    @property
    def analyzer(self) -> FaceAnalyzer:
        """The pipeline this gallery embeds with (built on first use)."""
        if self._own_analyzer is not None:
            return self._own_analyzer
        model, weights = self._pipeline()
        return _analyzer(model, self._detector, None, weights)

    @property
    def model(self) -> str:
        """The resolved name of the model this gallery object enrols and identifies with."""
        if self._own_analyzer is not None:
            return self._own_analyzer.model
        model, weights = self._pipeline()
        return get_model_spec(model or DEFAULT_MODEL, weights).name

    def enroll(
        self,
        name: str,
        images: ImageSource | Iterable[ImageSource],
        *,
        several: Literal["skip", "largest"] = "skip",
    ) -> EnrollReport:
        """Enrol photos of one person: paths, folders (every image inside), bytes, file objects, PIL images or arrays.

        Each photo must show one face (``several="largest"`` takes the largest of several). Photos already enrolled
        (same content) are skipped, as are unreadable or faceless ones; the report lists what was added
        (``report.added``) and what was skipped with the reason (``report.skipped``).

        Raises:
            InvalidName: the name is blank. NoImagesFound: a folder holds no images.
        """
        name = person_name(name)
        sources = _sources(images)
        report = _enroll_items(self.store, self.analyzer, [(name, s) for s in sources], several=several)
        self._identifier = None
        return report

    def identify(
        self,
        image: ImageSource,
        *,
        far: float = DEFAULT_FAR,
        threshold: float | None = None,
        top_k: int = 3,
        bgr: bool = False,
    ) -> list[FaceResult]:
        """Every face in one image, largest first, named or UNKNOWN.

        Each result has ``box``, ``person`` (None when unknown), ``unknown``, ``closest`` (whom it resembles most),
        ``distance``, ``score``, ``confidence`` and ``candidates``. A face is named only when the closest enrolled
        person's open-set score (the distance, or in larger galleries the distance over a power of the second
        person's: faceprint.recognize.score_law) is within the threshold, which is set so that a share `far`
        (default 1%) of strangers, people who are not enrolled, would be named as someone at this gallery's current
        size; `threshold` overrides it with a fixed distance. `confidence` is the calibrated probability that the
        face is `closest`, which near the threshold may be high for an UNKNOWN face (see operating_point).

        Raises:
            EmptyGallery / ModelNotInGallery: nobody is enrolled with this gallery's model.
        """
        check_threshold(threshold)
        img = self.analyzer.load(image, bgr=bgr)
        faces = self.analyzer.detect(img)
        return self.identify_faces(img, faces, far=far, threshold=threshold, top_k=top_k, label=_label(image, "<image>"))

    def identify_faces(
        self,
        image: ImageSource,
        faces: Iterable[Face],
        *,
        far: float = DEFAULT_FAR,
        threshold: float | None = None,
        top_k: int = 3,
        bgr: bool = False,
        label: str | None = None,
    ) -> list[FaceResult]:
        """Name faces already found in an image (by `detect`, a tracker, an earlier frame), without detecting again.

        One result per face, in the order given; the faces' boxes and landmarks must be in the image's pixels.
        Video uses it to embed only the best faces of each track.

        Raises:
            EmptyGallery / ModelNotInGallery: nobody is enrolled with this gallery's model.

        >>> faces = faceprint.detect(frame, bgr=True)                  # doctest: +SKIP
        >>> g.identify_faces(frame, faces[:1], bgr=True)[0].person     # doctest: +SKIP
        'Ada'
        """
        check_threshold(threshold)
        a = self.analyzer
        img = a.load(image, bgr=bgr)
        faces = list(faces)
        ident = self._identifier_for(threshold, far)  # before the early return: an empty gallery says so
        if not faces:
            return []
        matches = ident.identify(a.embed_faces(img, faces), top_k=top_k)
        results = [FaceResult(label or _label(image, "<image>"), f, m) for f, m in zip(faces, matches)]
        _audit_identify(self, results)
        return results

    def identify_many(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        far: float = DEFAULT_FAR,
        threshold: float | None = None,
        top_k: int = 3,
    ) -> list[FaceResult]:
        """Every face in every photo of `paths` (files or folders): one result per face, and one per photo with no
        face (``box`` None) or that cannot be read (``error`` says why)."""
        check_threshold(threshold)
        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        results = identify_images(items, self.analyzer, self._identifier_for(threshold, far), top_k=top_k)
        _audit_identify(self, results)
        return results

    @property
    def path(self) -> object:
        """Where the gallery is: its file, or its PostgreSQL URL without the password."""
        return self.store.path

    def people(self) -> list[PersonInfo]:
        """Everyone enrolled, by name, with face counts and the models their faces are embedded with."""
        return self.store.people()

    def faces(self, person: str | None = None) -> list[FaceRecord]:
        """Enrolled faces, of one person or of everyone."""
        return self.store.faces(person)

    def rename(self, old: str, new: str) -> None:
        """Rename a person (InvalidName if `new` breaks the name rule of faceprint.names or is already taken,
        UnknownPerson if `old` is not there). `new` is stored trimmed and NFC-normalised."""
        self.store.rename_person(lookup_name(old), person_name(new))
        self._identifier = None

    def remove(self, name: str) -> int:
        """Remove a person and all their faces; returns how many faces went (``store.remove_person`` says which)."""
        removed = self.store.remove_person(lookup_name(name))
        self._identifier = None
        return removed.n_faces

    def remove_face(self, face_id: int) -> Removed:
        """Remove one enrolled face by id (UnknownPerson if there is none); returns what went."""
        removed = self.store.remove_face(face_id)
        self._identifier = None
        return removed

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def operating_point(self, *, far: float = DEFAULT_FAR, threshold: float | None = None) -> OpenSetThreshold:
        """The threshold `identify` uses now, what it applies to (distance or score) and the share of strangers it
        is expected to name at this gallery's current size (see faceprint.recognize.open_set).

        Raises:
            EmptyGallery / ModelNotInGallery: nobody is enrolled with this gallery's model.
        """
        check_threshold(threshold)
        point = self._identifier_for(threshold, far).operating_point
        assert point is not None  # build_identifier always says how it chose the threshold
        return point

    def _identifier_for(self, threshold: float | None, far: float = DEFAULT_FAR) -> Identifier:
        # Rebuilt when anything was committed since (by this process or another: the store's change token), so the
        # threshold follows the gallery's size as people are enrolled or removed.
        check_far(far)
        key = (self.model, threshold, far, self.store.change_token())
        if self._identifier is None or self._identifier[0] != key:
            self._vectors = self.store.follow_vectors(self.model, self._vectors)
            self._identifier = (key, build_identifier(self.store, self.analyzer, threshold, far=far, embeddings=self._vectors.embeddings))
        return self._identifier[1]

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r}, model={self.model!r})"


def _audit_identify(gallery: Gallery, results: list[FaceResult]) -> None:
    """One audit record per identification call: the people named, how many faces, how many unknown."""
    named = sorted({r.person for r in results if r.person is not None})
    faces = [r for r in results if getattr(r, "face", None) is not None]
    record(gallery.store, "identify", named, {"faces": len(faces), "unknown": sum(1 for r in faces if r.person is None)},
           required=False)


def _sources(images: ImageSource | Iterable[ImageSource]) -> list[ImageSource]:
    """One image or several, with folders expanded to their images (NoImagesFound for an empty folder)."""
    single = isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(images, "read") or hasattr(
        images, "shape"
    ) or type(images).__module__.startswith("PIL.")
    return expand_paths([images] if single else list(images))  # type: ignore[arg-type,list-item]
