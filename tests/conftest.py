"""Shared fixtures: the read-only ../shared folder beside the repo, and a private model/embedding cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.fail(f"the shared data folder is missing: {SHARED} (it must sit beside the repo, or set FACEPRINT_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def lfw_subset(shared_dir: Path) -> Path:
    return shared_dir / "data" / "lfw-subset"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write the user's ~/.cache/faceprint."""
    monkeypatch.setenv("FACEPRINT_HOME", str(tmp_path_factory.getbasetemp() / "faceprint-home"))
