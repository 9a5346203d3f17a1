"""`eval pairs --report`: a report from a small slice of LFW View 1 DevTest, its JSON and its pictures."""

from __future__ import annotations

import base64
import json
import re
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.cli.app import app
from faceprint.evaluate.lfw import read_pairs
from faceprint.viz.plots import HISTOGRAM_SIZE, ROC_SIZE, SWEEP_SIZE

runner = CliRunner()


@pytest.fixture(scope="module")
def small_pairs(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 10 matched and the first 10 mismatched lines of pairsDevTest.txt, as a View 1 style file."""
    lines = (shared_dir / "data/lfw-view1/pairsDevTest.txt").read_text().splitlines()
    n = int(lines[0])
    path = tmp_path_factory.mktemp("pairs") / "pairsDevTest-small.txt"
    path.write_text("\n".join(["10", *lines[1:11], *lines[1 + n : 11 + n]]) + "\n")
    return path


def _png(data: bytes) -> Image.Image:
    im = Image.open(BytesIO(data))
    im.load()
    return im


def test_report_from_devtest_slice(small_pairs: Path, shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    images = shared_dir / "data/lfw-view1/images"
    r = runner.invoke(app, ["eval", "pairs", str(small_pairs), "--images", str(images), "--report", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["pairs"] == 20 and len(res["fold_accuracies"]) == 10
    assert set(res["tar_at_far"]) == {"0.1", "0.01", "0.001"}
    for t in res["tar_at_far"].values():
        assert len(t["fold_tars"]) == 10 and 0.0 <= t["tar_mean"] <= 1.0
        assert t["train_negatives"] == 9 and t["below_resolution"] == (t["far"] < 1 / 9)
    assert 0.0 <= res["eer"] <= 0.5 and res["auc"] > 0.9
    assert res["report"] == str(out / "report.html")

    sizes = {"roc.png": ROC_SIZE, "distances.png": HISTOGRAM_SIZE, "threshold.png": SWEEP_SIZE}
    for name, size in sizes.items():
        im = _png((out / name).read_bytes())
        assert im.format == "PNG" and im.size == size
        assert np.asarray(im.convert("L")).std() > 5  # something is drawn, not a blank canvas
    md = (out / "report.md").read_text()
    for name in sizes:
        assert f"]({name})" in md
    assert "TAR @ FAR 0.01" in md and "EER" in md
    html = (out / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert [base64.b64decode(e) for e in embedded] == [(out / n).read_bytes() for n in sizes]


def test_report_table_output(small_pairs: Path, shared_dir: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["eval", "pairs", str(small_pairs), "--images", str(shared_dir / "data/lfw-view1/images")])
    assert r.exit_code == 0, r.output
    assert "TAR @ FAR 0.001" in r.stdout and "EER" in r.stdout and "resolution 1/9" in r.stdout
    assert len(read_pairs(small_pairs).pairs) == 20
