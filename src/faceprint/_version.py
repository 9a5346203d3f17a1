"""The package's version, in the lowest layer so that any part may record it (checkpoints, `faceprint --version`)
without importing the one-import API in faceprint/__init__.py. Kept equal to pyproject.toml's."""

__version__ = "0.1.0"
