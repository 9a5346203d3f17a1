"""`faceprint serve`: the HTTP service (FastAPI + uvicorn, the ``serve`` extra) and its web page.

>>> from faceprint.service import ServiceConfig, create_app       # doctest: +SKIP
>>> app = create_app(ServiceConfig(gallery="people.sqlite"))       # doctest: +SKIP

The keys file (`faceprint.service.keys`) and the configuration need no extra; `create_app` needs ``serve``.
"""

from __future__ import annotations

from typing import Any

from faceprint._extras import optional_module
from faceprint.service.config import Limits, ServiceConfig
from faceprint.service.keys import KeyStore, keys_path

__all__ = ["create_app", "check_extra", "Limits", "ServiceConfig", "KeyStore", "keys_path"]


def check_extra() -> None:
    """MissingExtra naming the package when the ``serve`` extra is not installed."""
    for mod, pkg in (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("multipart", "python-multipart")):
        optional_module(mod, pkg, "serve")


def __getattr__(name: str) -> Any:
    if name == "create_app":
        check_extra()
        from faceprint.service.app import create_app

        return create_app
    raise AttributeError(name)
