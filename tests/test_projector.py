"""Projector export: the files parse back to the same vectors and labels; sprite and config follow the projector."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.models import DEFAULT_MODEL
from faceprint.analyzer import FaceAnalyzer
from faceprint.cli.app import app
from faceprint.export.projector import MAX_SPRITE_SIDE, read_projector, sprite_layout, write_projector
from faceprint.gallery import Gallery, enroll, identity_folders

runner = CliRunner()


def test_round_trip_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    v = (rng.normal(size=(7, 128)) * 1e-3 ** rng.integers(0, 3, (7, 1))).astype(np.float32)  # several magnitudes
    labels = ["Ada Lovelace", "Bob\twith tab", "c", "c", "d", "e", "f"]
    files = [f"dir/{i}.jpg" for i in range(7)]
    thumbs = [np.full((32, 32, 3), 30 * i, np.uint8) for i in range(7)]
    out = write_projector(tmp_path, v, labels, files, thumbs, tensor_name="faces")
    vecs, rows, cfg = read_projector(tmp_path)
    assert vecs.dtype == np.float32 and np.array_equal(vecs, v)  # 9 significant digits: exact for float32
    assert rows == [[lab.replace("\t", " "), f] for lab, f in zip(labels, files)]
    assert (tmp_path / "meta.tsv").read_text().splitlines()[0] == "person\tfile"
    assert cfg["embeddings.tensor_name"] == ["faces"]
    assert cfg["embeddings.tensor_shape"] == ["7", "128"]
    assert cfg["embeddings.sprite.image_path"] == ["sprite.png"]
    assert cfg["embeddings.sprite.single_image_dim"] == ["32", "32"]
    with Image.open(out.sprite) as im:  # 7 images: a 3 x 3 grid of 32 px tiles, row-major
        assert im.format == "PNG" and im.size == (96, 96)
        px = np.asarray(im)
    assert px[40, 40, 0] == 30 * 4 and px[70, 5, 0] == 30 * 6 and px[70, 40, 0] == 0  # tile 4, tile 6, empty


def test_single_column_metadata_has_no_header(tmp_path: Path) -> None:
    v = np.eye(3, dtype=np.float32)
    write_projector(tmp_path, v, ["a", "b", "c"])
    assert (tmp_path / "meta.tsv").read_text().splitlines() == ["a", "b", "c"]
    vecs, rows, cfg = read_projector(tmp_path)
    assert np.array_equal(vecs, v) and rows == [["a"], ["b"], ["c"]]
    assert "embeddings.sprite.image_path" not in cfg and not (tmp_path / "sprite.png").exists()
    with pytest.raises(ValueError):
        write_projector(tmp_path, v, ["a", "b"])


def test_sprite_layout_stays_within_limit() -> None:
    assert sprite_layout(1, 64) == (1, 64)
    assert sprite_layout(10, 64) == (4, 64)
    cols, side = sprite_layout(20000, 64)  # 142 columns of 57 px
    assert cols == math.ceil(math.sqrt(20000)) and cols * side <= MAX_SPRITE_SIDE and side == MAX_SPRITE_SIDE // cols


def test_export_projector_cli_from_gallery(lfw_subset: Path, tmp_path: Path) -> None:
    items = [it for it in identity_folders(lfw_subset) if it[1].name.endswith(("_0001.jpg", "_0002.jpg"))]
    gallery = tmp_path / "g.sqlite"
    with Gallery(gallery) as g:
        enroll(g, FaceAnalyzer(), items[:6])
        emb = g.embeddings(DEFAULT_MODEL)
        sources = {f.id: f.source for f in g.faces()}
    out = tmp_path / "proj"
    r = runner.invoke(app, ["export", "projector", str(out), "--gallery", str(gallery), "--thumb", "40"])
    assert r.exit_code == 0, r.output
    vecs, rows, cfg = read_projector(out)
    assert np.array_equal(vecs, emb.vectors)
    assert rows == [[name, sources[int(fid)]] for name, fid in zip(emb.labels(), emb.face_ids)]
    assert cfg["embeddings.tensor_shape"] == [str(len(vecs)), "128"]
    with Image.open(out / "sprite.png") as im:
        cols = math.ceil(math.sqrt(len(vecs)))
        assert im.size == (cols * 40, cols * 40)
        assert np.asarray(im).std() > 10  # face crops, not blank tiles


def test_export_projector_cli_from_folder(lfw_subset: Path, tmp_path: Path) -> None:
    root = tmp_path / "people"
    for person in ("Tony_Blair", "Hugo_Chavez"):
        (root / person).mkdir(parents=True)
        for i in (1, 2, 3):
            (root / person / f"{person}_{i:04d}.jpg").symlink_to(lfw_subset / person / f"{person}_{i:04d}.jpg")
    out = tmp_path / "proj"
    r = runner.invoke(app, ["export", "projector", str(out), str(root)])
    assert r.exit_code == 0, r.output
    vecs, rows, _ = read_projector(out)
    assert vecs.shape == (6, 128) and [r[0] for r in rows] == ["Hugo_Chavez"] * 3 + ["Tony_Blair"] * 3
    direct = FaceAnalyzer().embed_one(root / "Hugo_Chavez/Hugo_Chavez_0001.jpg", select="center").embedding.vectors[0]
    assert np.allclose(vecs[0], direct, atol=1e-6)
    r = runner.invoke(app, ["export", "projector", str(out), str(root), "--gallery", str(tmp_path / "g.sqlite")])
    assert r.exit_code == 3  # usage: DIR and --gallery both given
