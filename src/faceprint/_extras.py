"""Optional dependencies: the one way faceprint imports a package that an extra installs.

>>> faiss = optional_module("faiss", "faiss-cpu")        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from faceprint.errors import MissingExtra

__all__ = ["optional_module"]


def optional_module(module: str, package: str | None = None, extra: str | None = None) -> Any:
    """Import `module` of an optional dependency (a submodule too: "scipy.optimize"). When it is absent, raise
    MissingExtra naming the PyPI `package` (default: the module's top-level name) and the extra that installs it
    (errors.EXTRA_OF_PACKAGE, else `extra`), so the message says what to pip install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(package or module.split(".")[0], extra) from None
