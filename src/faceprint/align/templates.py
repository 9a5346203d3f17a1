"""Five-point landmark templates: where each model wants the eyes, nose and mouth corners in its input crop.

Points are in the order of ``faceprint.types.LANDMARK_NAMES`` (left eye, right eye, nose, left and right mouth
corner, "left" meaning the left of the picture), in pixels of the output crop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from faceprint.errors import UnknownModel

__all__ = ["TEMPLATES", "AlignmentTemplate", "get_template", "list_templates"]


@dataclass(frozen=True)
class AlignmentTemplate:
    """A landmark template and the square crop size it is defined for."""

    name: str
    points: tuple[tuple[float, float], ...]
    size: int
    description: str = ""

    def points_array(self, size: int | None = None, padding: float = 0.0) -> np.ndarray:
        """Template points as (5, 2) float64 for an output of `size` pixels with extra relative `padding`.

        Padding p shrinks the face into the centre so that the crop shows p * size more context on each side,
        which is how dlib's face chips and FaceNet's margins are expressed.
        """
        pts = np.asarray(self.points, dtype=np.float64)
        out = float(size or self.size)
        norm = pts / self.size
        norm = (norm + padding) / (1.0 + 2.0 * padding)
        return norm * out


def get_template(name: str) -> AlignmentTemplate:
    """Look a template up by name; unknown names raise UnknownModel listing the choices."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownModel("alignment template", name, list_templates()) from None


def list_templates() -> list[str]:
    """Names of all templates."""
    return sorted(TEMPLATES)


# dlib's face chip (get_face_chip_details, 150x150, padding 0.25) expressed in MTCNN's five landmarks.
# dlib defines its chip by its own 5-point shape predictor (eye corners and nose base), which are other points
# than MTCNN's. These coordinates are where MTCNN's landmarks fall inside dlib's own chips: for each of the 100
# photos of ../shared/data/lfw-subset we ran dlib's HOG detector, its 5-point predictor and dlib's chip transform,
# mapped MTCNN's landmarks through that transform and took the per-coordinate median (spread 2-6 px).
# Re-derive with `python bench/derive_dlib_template.py`.
DLIB_CHIP_150 = AlignmentTemplate(
    name="dlib-chip-150",
    points=(
        (50.36, 47.91),
        (104.74, 47.94),
        (76.58, 81.20),
        (53.62, 108.08),
        (101.42, 108.29),
    ),
    size=150,
    description="dlib face chip geometry (150 px, padding 0.25) in MTCNN landmarks",
)

# The ArcFace/InsightFace 112x112 template, widely used for 5-point alignment of MTCNN landmarks.
ARCFACE_112 = AlignmentTemplate(
    name="arcface-112",
    points=(
        (38.2946, 51.6963),
        (73.5318, 51.5014),
        (56.0252, 71.7366),
        (41.5493, 92.3655),
        (70.7299, 92.2041),
    ),
    size=112,
    description="InsightFace/ArcFace 112x112 template",
)

# OpenFace's mean face: dlib's 68 iBUG landmarks (0-based) averaged over aligned faces, as OpenFace ships it
# (openface/align_dlib.py, TEMPLATE, Apache-2.0). OpenFace min-max normalises it to [0, 1] over all 68 points
# and scales by the crop side; nn4.small2.v1 was trained on 96x96 crops that map the outer eye corners (36, 45)
# and the base of the nose (33, OpenFace's OUTER_EYES_AND_NOSE) exactly onto it with an affine transform.
OPENFACE_MEAN_FACE_68: tuple[tuple[float, float], ...] = (
    (0.0792396913815, 0.339223741112), (0.0829219487236, 0.456955367943), (0.0967927109165, 0.575648016728),
    (0.122141515615, 0.691921601066), (0.168687863544, 0.800341263616), (0.239789390707, 0.895732504778),
    (0.325662452515, 0.977068762493), (0.422318282013, 1.04329000149), (0.531777802068, 1.06080371126),
    (0.641296298053, 1.03981924107), (0.738105872266, 0.972268833998), (0.824444363295, 0.889624082279),
    (0.894792677532, 0.792494155836), (0.939395486253, 0.681546643421), (0.96111933829, 0.562238253072),
    (0.970579841181, 0.441758925744), (0.971193274221, 0.322118743967), (0.163846223133, 0.249151738053),
    (0.21780354657, 0.204255863861), (0.291299351124, 0.192367318323), (0.367460241458, 0.203582210627),
    (0.4392945113, 0.233135599851), (0.586445962425, 0.228141644834), (0.660152671635, 0.195923841854),
    (0.737466449096, 0.182360984545), (0.813236546239, 0.192828009114), (0.8707571886, 0.235293377042),
    (0.51534533827, 0.31863546193), (0.516221448289, 0.396200446263), (0.517118861835, 0.473797687758),
    (0.51816430343, 0.553157797772), (0.433701156035, 0.604054457668), (0.475501237769, 0.62076344024),
    (0.520712933176, 0.634268222208), (0.565874114041, 0.618796581487), (0.607054002672, 0.60157671656),
    (0.252418718401, 0.331052263829), (0.298663015648, 0.302646354002), (0.355749724218, 0.303020650651),
    (0.403718978315, 0.33867711083), (0.352507175597, 0.349987615384), (0.296791759886, 0.350478978225),
    (0.631326076346, 0.334136672344), (0.679073381078, 0.29645404267), (0.73597236153, 0.294721285802),
    (0.782865376271, 0.321305281656), (0.740312274764, 0.341849376713), (0.68499850091, 0.343734332172),
    (0.353167761422, 0.746189164237), (0.414587777921, 0.719053835073), (0.477677654595, 0.706835892494),
    (0.522732900812, 0.717092275768), (0.569832064287, 0.705414478982), (0.635195811927, 0.71565572516),
    (0.69951672331, 0.739419187253), (0.639447159575, 0.805236879972), (0.576410514055, 0.835436670169),
    (0.525398405766, 0.841706377792), (0.47641545769, 0.837505914975), (0.41379548902, 0.810045601727),
    (0.380084785646, 0.749979603086), (0.477955996282, 0.74513234612), (0.523389793327, 0.748924302636),
    (0.571057789237, 0.74332894691), (0.672409137852, 0.744177032192), (0.572539621444, 0.776609286626),
    (0.5240106503, 0.783370783245), (0.477561227414, 0.778476346951),
)
OPENFACE_OUTER_EYES_AND_NOSE: tuple[int, int, int] = (36, 45, 33)
OPENFACE_INNER_EYES_AND_BOTTOM_LIP: tuple[int, int, int] = (39, 42, 57)


def openface_template_points(indices: tuple[int, ...] = OPENFACE_OUTER_EYES_AND_NOSE, size: int = 96) -> np.ndarray:
    """OpenFace's min-max normalised mean face at the given 68-point indices, in pixels of a size x size crop."""
    tpl = np.asarray(OPENFACE_MEAN_FACE_68, dtype=np.float64)
    lo, hi = tpl.min(axis=0), tpl.max(axis=0)
    return (tpl[list(indices)] - lo) / (hi - lo) * float(size)


def _openface_five_points(size: int = 96) -> tuple[tuple[float, float], ...]:
    """Our five landmarks on OpenFace's mean face: eye centres (36-41, 42-47), nose tip (30), mouth corners (48, 54)."""
    tpl = np.asarray(OPENFACE_MEAN_FACE_68, dtype=np.float64)
    lo, hi = tpl.min(axis=0), tpl.max(axis=0)
    norm = (tpl - lo) / (hi - lo) * float(size)
    pts = [norm[36:42].mean(0), norm[42:48].mean(0), norm[30], norm[48], norm[54]]
    return tuple((round(float(x), 3), round(float(y), 3)) for x, y in pts)


# The same mean face in our five landmarks, for 5-point similarity alignment (MTCNN landmarks, no 68-point
# predictor): close to OpenFace's own crops but not identical (a similarity fit, other points).
OPENFACE_96 = AlignmentTemplate(
    name="openface-96",
    points=_openface_five_points(96),
    size=96,
    description="OpenFace's mean face (96 px) in our five landmarks; OpenFace itself aligns 68-point 36, 45, 33",
)

# Where MTCNN's five landmarks fall inside facenet's "box" crop (faceprint.models.facenet): the per-coordinate
# median over the 100 photos of ../shared/data/lfw-subset (MTCNN box + BOX_MARGIN, resized to 160x160). The
# "align" crop maps each face's landmarks onto these points with a similarity transform, so both crops frame the
# face alike.
FACENET_160 = AlignmentTemplate(
    name="facenet-160",
    points=((52.2, 65.88), (107.36, 65.1), (79.16, 91.3), (57.21, 112.99), (105.43, 112.55)),
    size=160,
    description="MTCNN landmarks inside facenet's box+margin crop (160 px), medians over lfw-subset",
)

TEMPLATES: Mapping[str, AlignmentTemplate] = MappingProxyType(
    {t.name: t for t in (DLIB_CHIP_150, ARCFACE_112, OPENFACE_96, FACENET_160)}
)
"""Every template by name (read-only: a model's spec names its template, so templates live here, beside each other)."""
