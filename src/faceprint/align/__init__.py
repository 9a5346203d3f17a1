"""Face alignment: 5-point similarity transforms onto per-model templates."""

from faceprint.align.affine import align_face, center_crop, estimate_similarity, warp
from faceprint.align.templates import AlignmentTemplate, get_template, list_templates

__all__ = [
    "AlignmentTemplate",
    "align_face",
    "center_crop",
    "estimate_similarity",
    "get_template",
    "list_templates",
    "warp",
]
