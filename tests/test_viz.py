"""Pictures: every plot and picture is a valid, non-empty PNG of the size it promises, on real photos where it
takes photos; plus the CLI commands `viz tsne|grid|errors` and the identify contact sheet."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.analyzer import FaceAnalyzer
from faceprint.cli.app import app
from faceprint.errors import MissingExtra
from faceprint.gallery import Gallery, build_identifier, enroll, identity_folders
from faceprint.recognize import identify_images
from faceprint.viz import plots
from faceprint.viz.errors import error_pairs_picture, error_pairs_size, hardest_pairs
from faceprint.viz.grid import face_grid, grid_size
from faceprint.viz.sheet import CAPTION, write_contact_sheets
from faceprint.viz.tsne import MAP_SIZE, embedding_map_plot, project_2d

runner = CliRunner()


def _check_png(path: Path, size: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == size
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 5, f"{path.name} looks blank"
    return pixels


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    same = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    return np.where(same, rng.normal(0.45, 0.1, 400), rng.normal(0.8, 0.1, 400)), same


def test_metric_plots_sizes(scores, tmp_path: Path) -> None:
    from faceprint.evaluate.metrics import roc_curve

    d, same = scores
    far, tar, _ = roc_curve(d, same)
    _check_png(plots.roc_plot(far, tar, tmp_path / "roc.png", auc=0.99, eer=0.05, points={0.01: 0.9}), plots.ROC_SIZE)
    _check_png(plots.distance_histogram(d, same, tmp_path / "h.png", threshold=0.62, other_thresholds={"default": 0.6}), plots.HISTOGRAM_SIZE)
    _check_png(plots.threshold_sweep_plot(d, same, tmp_path / "s.png", threshold=0.62), plots.SWEEP_SIZE)
    names = [f"person_{i}" for i in range(12)]
    m = np.diag(np.full(12, 5)) + (np.arange(144).reshape(12, 12) % 7 == 0)
    _check_png(plots.confusion_plot(m, names, tmp_path / "c.png"), plots.CONFUSION_SIZE)
    with pytest.raises(ValueError, match="at most 50"):
        plots.confusion_plot(np.eye(51), [str(i) for i in range(51)], tmp_path / "big.png")


def test_tsne_separates_clusters_and_plots(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, (3, 16))
    x = np.concatenate([c + rng.normal(0, 0.05, (12, 16)) for c in centres])
    labels = [p for p in "abc" for _ in range(12)]
    pts = project_2d(x, "tsne", seed=0)
    assert pts.shape == (36, 2)
    # every point's nearest 2-D neighbour is of the same person
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2) + np.eye(36) * 1e9
    assert (np.array(labels)[d.argmin(1)] == np.array(labels)).all()
    _check_png(embedding_map_plot(pts, labels, tmp_path / "map.png"), MAP_SIZE)
    with pytest.raises(ValueError, match="at least 4"):
        project_2d(x[:3])
    with pytest.raises(ValueError, match="unknown method"):
        project_2d(x, "pca")


def test_umap_when_installed_else_clear_error() -> None:
    x = np.random.default_rng(2).normal(size=(20, 8))
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(MissingExtra, match="umap-learn"):
            project_2d(x, "umap")
    else:
        assert project_2d(x, "umap").shape == (20, 2)


def test_face_grid_size_and_cli(shared_dir: Path, tmp_path: Path) -> None:
    avengers = shared_dir / "data/avengers"
    picture = face_grid(identity_folders(avengers), per_person=4, max_people=3, thumb=48)
    assert picture.shape[1::-1] == grid_size(3, 4, 48)
    out = tmp_path / "grid.png"
    r = runner.invoke(app, ["viz", "grid", str(avengers), "--out", str(out), "--per-person", "3", "--thumb", "64"])
    assert r.exit_code == 0, r.output
    _check_png(out, grid_size(5, 3, 64))


def test_hardest_pairs_hand_case(lfw_subset: Path) -> None:
    pairs = [(f"a{i}", f"b{i}") for i in range(6)]
    d = np.array([0.3, 0.7, 0.5, 0.65, 0.9, 0.55])
    same = np.array([True, True, True, False, False, False])
    fm, fnm = hardest_pairs(pairs, d, same, threshold=0.6, n=2)
    assert [(p.left, p.distance, p.error) for p in fm] == [("a5", 0.55, True), ("a3", 0.65, False)]
    assert [(p.left, p.distance, p.error) for p in fnm] == [("a1", 0.7, True), ("a2", 0.5, False)]
    # the picture, on real photos
    blair = [f"Tony_Blair/Tony_Blair_{i:04d}.jpg" for i in (1, 2, 3)]
    bush = "George_W_Bush/George_W_Bush_0001.jpg"
    real = [(blair[0], bush), (blair[0], blair[1]), (blair[1], blair[2])]
    fm, fnm = hardest_pairs(real, np.array([0.5, 0.7, 0.4]), np.array([False, True, True]), 0.6, n=3)
    picture = error_pairs_picture(lfw_subset, fm, fnm, 0.6, thumb=80)
    assert picture.shape[1::-1] == error_pairs_size(2, 80)  # two same-person pairs, one different: 2 rows


def test_viz_errors_cli(shared_dir: Path, tmp_path: Path) -> None:
    lines = (shared_dir / "data/lfw-view1/pairsDevTest.txt").read_text().splitlines()
    n = int(lines[0])
    small = tmp_path / "pairs.txt"
    small.write_text("\n".join(["10", *lines[1:11], *lines[1 + n : 11 + n]]) + "\n")
    out = tmp_path / "errors.png"
    r = runner.invoke(app, ["viz", "errors", str(small), "--images", str(shared_dir / "data/lfw-view1/images"), "--out", str(out), "--n", "4"])
    assert r.exit_code == 0, r.output
    _check_png(out, error_pairs_size(4, 120))


@pytest.fixture()
def tiny_folders(lfw_subset: Path, tmp_path: Path) -> Path:
    """Identity folders of 3 people x 4 photos: links to lfw-subset photos in a temporary folder."""
    root = tmp_path / "people"
    for person in ("Tony_Blair", "Colin_Powell", "George_W_Bush"):
        (root / person).mkdir(parents=True)
        for i in range(1, 5):
            name = f"{person}_{i:04d}.jpg"
            (root / person / name).symlink_to(lfw_subset / person / name)
    return root


def test_viz_tsne_cli_from_folder_and_gallery(tiny_folders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tsne.png"
    r = runner.invoke(app, ["viz", "tsne", str(tiny_folders), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "12 faces of 3 people" in r.stdout
    _check_png(out, MAP_SIZE)
    items = identity_folders(tiny_folders)[:8]  # Colin Powell and George W Bush, 4 photos each
    gallery = tmp_path / "g.sqlite"
    with Gallery(gallery) as g:
        enroll(g, FaceAnalyzer(), items)
    out2 = tmp_path / "tsne-gallery.png"
    # on a terminal, the projection (seconds to a minute) shows a spinner, and the stored vectors no empty "0/?" bar
    import io

    from rich.console import Console

    import faceprint.cli.viz as cli_viz

    screen = io.StringIO()
    monkeypatch.setattr(cli_viz, "err_console", Console(file=screen, force_terminal=True, width=100))
    r = runner.invoke(app, ["viz", "tsne", "--gallery", str(gallery), "--out", str(out2)])
    assert r.exit_code == 0, r.output
    _check_png(out2, MAP_SIZE)
    assert "TSNE of 8 faces" in screen.getvalue() and "0/?" not in screen.getvalue() + r.stderr, screen.getvalue()
    r = runner.invoke(app, ["viz", "tsne", str(tiny_folders), "--gallery", str(gallery), "--out", str(out2)])
    assert r.exit_code == 3 and "not both" in r.output
    r = runner.invoke(app, ["viz", "tsne", "--gallery", str(gallery), "--out", str(out2), "--method", "pca"])
    assert r.exit_code == 3


def test_contact_sheets_per_folder(lfw_subset: Path, tmp_path: Path) -> None:
    analyzer = FaceAnalyzer()
    gallery = tmp_path / "g.sqlite"
    with Gallery(gallery) as g:
        enroll(g, analyzer, [("Tony_Blair", lfw_subset / f"Tony_Blair/Tony_Blair_{i:04d}.jpg") for i in (1, 2)])
        ident = build_identifier(g, analyzer)
    photos = [lfw_subset / f"Tony_Blair/Tony_Blair_{i:04d}.jpg" for i in (3, 4, 5)] + [lfw_subset / "Colin_Powell/Colin_Powell_0001.jpg"]
    results = identify_images(photos, analyzer, ident)
    sheets = write_contact_sheets(results, tmp_path / "sheets", thumb=100)
    assert sorted(p.name for p in sheets) == ["contact_sheet_Colin_Powell.jpg", "contact_sheet_Tony_Blair.jpg"]
    for path, n in zip(sorted(sheets), (1, 3)):
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        with Image.open(path) as im:
            assert im.format == "JPEG" and im.size == (4 + cols * 104, 4 + rows * (100 + CAPTION + 4))
    assert any(r.match is not None and r.match.person == "Tony_Blair" for r in results[:3])
    assert results[-1].match is not None and results[-1].match.unknown
