"""Every Python block of the README runs, on real photos named as the README names them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The README's blocks and those of the documentation pages that run on the README's photo names.
PAGES = [ROOT / "README.md", ROOT / "docs" / "python-api.md", ROOT / "docs" / "video.md"]
BLOCKS = [b for page in PAGES for b in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


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


@pytest.fixture
def door_clip(photo_folder: Path, shared_dir: Path, with_weights: Path) -> Path:
    """door.mp4: alice (Colin Powell's photos) walking past a camera, and people.sqlite with her enrolled (video
    detects with YuNet, whose weights `make weights` fetched)."""
    import faceprint
    from faceprint.video.scenes import Actor, Scene, face_photo, write_scene

    subset = shared_dir / "data" / "lfw-subset" / "Colin_Powell"
    scene = Scene(320, 240, 10.0, 2.0, [Actor("alice", face_photo(subset / "Colin_Powell_0007.jpg"), [(0, 60, 120, 110), (2, 260, 120, 110)])])
    write_scene(scene, photo_folder / "door.mp4")
    with faceprint.Gallery(photo_folder / "people.sqlite") as g:
        g.enroll("alice", [photo_folder / "alice1.jpg", photo_folder / "alice2.jpg"])
    return photo_folder / "door.mp4"


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 2 and BLOCKS[0].lstrip().startswith("import faceprint")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, photo_folder: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> None:
    if "door.mp4" in BLOCKS[index]:
        request.getfixturevalue("door_clip")
    exec(compile(BLOCKS[index], f"python block {index + 1} of README.md and docs", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    if "faceprint.verify(" in BLOCKS[index]:
        assert "alice" in out and "True" in out  # alice1/alice2 verified, and alice named on visitor.jpg
    if "door.mp4" in BLOCKS[index]:
        assert "alice" in out  # her track was named
