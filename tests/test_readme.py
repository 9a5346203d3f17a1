"""Every Python block of the README runs, on real photos named as the README names them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def photo_folder(shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file names the README uses, as links to real photos, in the working directory."""
    subset = shared_dir / "data" / "lfw-subset"
    links = {
        "alice1.jpg": subset / "Colin_Powell" / "Colin_Powell_0001.jpg",
        "alice2.jpg": subset / "Colin_Powell" / "Colin_Powell_0002.jpg",
        "group.jpg": subset / "Ariel_Sharon" / "Ariel_Sharon_0001.jpg",
        "visitor.jpg": subset / "Colin_Powell" / "Colin_Powell_0003.jpg",
    }
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    (tmp_path / "bob").mkdir()
    for p in sorted((subset / "Donald_Rumsfeld").glob("*.jpg"))[:3]:
        (tmp_path / "bob" / p.name).symlink_to(p)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 2 and BLOCKS[0].lstrip().startswith("import faceprint")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, photo_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    if "faceprint.Gallery(" in BLOCKS[index]:
        assert "alice" in out and "True" in out  # alice1/alice2 verified, and alice named on visitor.jpg
