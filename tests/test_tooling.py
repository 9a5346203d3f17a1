"""The linters, the type checker and the documentation site, run by `make test` like any other test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# The modules of the public API (what `import faceprint` exposes) are type-checked; the rest is not yet.
TYPED = ["src/faceprint/__init__.py", "src/faceprint/api.py", "src/faceprint/types.py", "src/faceprint/errors.py",
         "src/faceprint/image.py", "src/faceprint/client.py", "src/faceprint/analyzer.py", "src/faceprint/names.py",
         # the model registry: records, the name parser, the catalogue and the lookup
         "src/faceprint/models/__init__.py", "src/faceprint/models/_spec.py", "src/faceprint/models/_names.py",
         "src/faceprint/models/_catalogue.py", "src/faceprint/models/_registry.py", "src/faceprint/models/ensemble.py",
         "src/faceprint/models/identity.py"]


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: it comes with the dev extra (make test installs it)")
    return str(path)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's notice about its successor
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def test_ruff_is_clean() -> None:
    r = _run([_tool("ruff"), "check", "--no-cache", "src", "tests", "bench", "examples"])
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy_is_clean_on_the_public_api() -> None:
    files = [f for f in TYPED if (ROOT / f).exists()]
    r = _run([_tool("mypy"), *files])
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_docs_site_builds_strict(tmp_path: Path) -> None:
    r = _run([_tool("mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")])
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "site" / "index.html").exists()
    shutil.rmtree(tmp_path / "site")
