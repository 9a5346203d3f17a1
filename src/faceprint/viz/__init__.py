"""Pictures: annotated photos (always available); plots need the `viz` extra."""

from faceprint.viz.annotate import draw_faces, save_image

__all__ = ["draw_faces", "save_image"]
