"""Five-point landmark templates: where each model wants the eyes, nose and mouth corners in its input crop.

Points are in the order of ``faceprint.types.LANDMARK_NAMES`` (left eye, right eye, nose, left and right mouth
corner, "left" meaning the left of the picture), in pixels of the output crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceprint.errors import UnknownModel

__all__ = ["AlignmentTemplate", "get_template", "list_templates", "register_template"]


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


_TEMPLATES: dict[str, AlignmentTemplate] = {}


def register_template(template: AlignmentTemplate) -> AlignmentTemplate:
    """Add a template to the registry; a duplicate name is an error."""
    if template.name in _TEMPLATES:
        raise ValueError(f"alignment template {template.name!r} is already registered")
    _TEMPLATES[template.name] = template
    return template


def get_template(name: str) -> AlignmentTemplate:
    """Look a template up by name; unknown names raise UnknownModel listing the choices."""
    try:
        return _TEMPLATES[name]
    except KeyError:
        raise UnknownModel("alignment template", name, list_templates()) from None


def list_templates() -> list[str]:
    """Names of all registered templates."""
    return sorted(_TEMPLATES)


# dlib's face chip (get_face_chip_details, 150x150, padding 0.25) expressed in MTCNN's five landmarks.
# dlib defines its chip by its own 5-point shape predictor (eye corners and nose base), which are other points
# than MTCNN's. These coordinates are where MTCNN's landmarks fall inside dlib's own chips: for each of the 100
# photos of ../shared/data/lfw-subset we ran dlib's HOG detector, its 5-point predictor and dlib's chip transform,
# mapped MTCNN's landmarks through that transform and took the per-coordinate median (spread 2-6 px).
# Re-derive with `python bench/derive_dlib_template.py`.
DLIB_CHIP_150 = register_template(
    AlignmentTemplate(
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
)

# The ArcFace/InsightFace 112x112 template, widely used for 5-point alignment of MTCNN landmarks.
ARCFACE_112 = register_template(
    AlignmentTemplate(
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
)
