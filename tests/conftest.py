"""Shared fixtures: the read-only ../shared folder beside the repo, and a private model/embedding cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serve_helpers import REAL_HOME, link_fetched_weights

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
    """Tests never write the user's ~/.cache/faceprint: a private cache whose weights/ links (read only) to the
    default detector's file fetched there (YuNet), which the default pipeline needs as a user's does after
    `faceprint models fetch yunet`; other fetched weights (FaceNet) come with the `with_weights` fixture."""
    home = tmp_path_factory.getbasetemp() / "faceprint-home"
    if not (home / "weights").is_dir():
        link_fetched_weights(home / "weights")
    monkeypatch.setenv("FACEPRINT_HOME", str(home))


@pytest.fixture(scope="session")
def _weights_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private FACEPRINT_HOME whose weights/ links to the weight files of the real cache (read only)."""
    home = tmp_path_factory.mktemp("faceprint-home-weights")
    link_fetched_weights(home / "weights", only_default=False)
    return home


@pytest.fixture
def with_weights(_weights_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the weights fetched into the real cache (`make test` fetches them first); all writes stay private."""
    monkeypatch.setenv("FACEPRINT_HOME", str(_weights_home))
    return _weights_home
