"""Exports of embeddings for other tools (the TensorBoard embedding projector)."""

from faceprint.export.projector import ProjectorFiles, read_projector, write_projector

__all__ = ["ProjectorFiles", "read_projector", "write_projector"]
