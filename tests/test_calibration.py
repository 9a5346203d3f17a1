"""`faceprint calibrate`: threshold for a target FAR on all pairs, the resolution refusal, and identify using it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.models import DEFAULT_MODEL
from faceprint.analyzer import FaceAnalyzer
from faceprint.cli.app import app
from faceprint.evaluate.calibration import all_pairs, calibrate_threshold, store_threshold
from faceprint.evaluate.labelled import InsufficientData, LabelledEmbeddings
from faceprint.gallery import Gallery, build_identifier, enroll, identity_folders
from faceprint.models.identity import model_identity
from faceprint.recognize.images import threshold_for
from faceprint.recognize.open_set import gallery_impostors, threshold_setting

runner = CliRunner()


def _line(points: dict[str, list[float]]) -> LabelledEmbeddings:
    labels = [p for p, xs in points.items() for _ in xs]
    xs = [x for v in points.values() for x in v]
    return LabelledEmbeddings("toy", "euclidean", np.array([[x, 0.0] for x in xs], np.float32), labels, [""] * len(xs), [None] * len(xs))


def test_calibrate_hand_case() -> None:
    # A at 0 and 0.1, B at 1.0 and 1.3, C at 0.5: same pairs 0.1, 0.3; different pairs
    # 0.4 0.5 0.5 0.8 0.9 1.0 1.2 1.3 (8 of them)
    data = _line({"A": [0.0, 0.1], "B": [1.0, 1.3], "C": [0.5]})
    d, same = all_pairs(data)
    assert sorted(np.round(d[same].astype(float), 4).tolist()) == [0.1, 0.3]
    assert sorted(np.round(d[~same].astype(float), 4).tolist()) == [0.4, 0.5, 0.5, 0.8, 0.9, 1.0, 1.2, 1.3]
    cal = calibrate_threshold(data, 0.25)  # 2 of 8 may pass, but the 2nd and 3rd are tied at 0.5: just below 0.5
    assert 0.4 <= cal.threshold < 0.5 and cal.far == 0.125 and cal.tar == 1.0
    assert (cal.n_same, cal.n_different, cal.n_people, cal.n_photos) == (2, 8, 3, 5)
    assert calibrate_threshold(data, 0.125).threshold == cal.threshold  # exactly one false accept allowed
    with pytest.raises(InsufficientData, match="8 different-person pairs.*at least 10"):
        calibrate_threshold(data, 0.1)  # resolution 1/8
    with pytest.raises(InsufficientData, match="two people"):
        calibrate_threshold(_line({"A": [0.0, 0.1, 0.2]}), 0.5)


@pytest.fixture(scope="module")
def small_gallery(lfw_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cal") / "g.sqlite"
    items = [it for it in identity_folders(lfw_subset) if it[1].name.endswith(("_0001.jpg", "_0002.jpg"))][:6]
    with Gallery(path) as g:
        enroll(g, FaceAnalyzer(), items)
    return path


def test_calibrate_cli_stores_threshold_identify_uses(lfw_subset: Path, small_gallery: Path) -> None:
    r = runner.invoke(app, ["calibrate", str(lfw_subset), "--pair-far", "1e-3", "--gallery", str(small_gallery), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    n = out["photos"]
    per_person = 10
    assert out["people"] == 10 and out["different_pairs"] + out["same_pairs"] == n * (n - 1) // 2
    assert out["different_pairs"] >= 4000 and out["far"] <= 1e-3 and 0.5 < out["tar"] <= 1.0
    assert out["same_pairs"] <= 10 * per_person * (per_person - 1) // 2
    print(f"\nlfw-subset calibration: threshold {out['threshold']:.4f}, TAR {out['tar']:.4f} at FAR {out['far']:.5f}")
    with Gallery(small_gallery) as g:
        assert out["setting"] == threshold_setting(g, DEFAULT_MODEL) == "threshold:" + model_identity(DEFAULT_MODEL).key
        assert float(g.get_setting(out["setting"])) == out["threshold"]
        assert threshold_for(g, DEFAULT_MODEL, 0.6) == out["threshold"]
        # identify takes its threshold from the stored distribution of these photos, for the gallery's size
        own = gallery_impostors(g, DEFAULT_MODEL)
        assert out["impostors_setting"] is not None and own.n_pairs == out["different_pairs"]
        ident = build_identifier(g, FaceAnalyzer())
        assert ident.threshold == pytest.approx(own.threshold_for(0.01, len(ident.gallery.vectors)))
        assert ident.operating_point.source.startswith("calibrate lfw-subset")
        assert build_identifier(g, FaceAnalyzer(), threshold=out["threshold"]).threshold == out["threshold"]
    # finer than 1 / (different pairs): refused, nothing changed
    r = runner.invoke(app, ["calibrate", str(lfw_subset), "--pair-far", "1e-5", "--gallery", str(small_gallery)])
    assert r.exit_code == 2 and "different-person pairs" in r.stderr and "--pair-far" in r.stderr
    with Gallery(small_gallery) as g:
        assert threshold_for(g, DEFAULT_MODEL, 0.6) == out["threshold"]
    r = runner.invoke(app, ["calibrate", str(lfw_subset), "--pair-far", "2"])
    assert r.exit_code == 3 and "--pair-far" in r.output and "strictly between 0" in r.output
    r = runner.invoke(app, ["calibrate", str(lfw_subset), "--far", "2"])  # the old spelling: still checked
    assert r.exit_code == 3 and "--far" in r.output and "strictly between 0" in r.output


def test_store_threshold_round_trip(tmp_path: Path) -> None:
    data = _line({"A": [0.0, 0.1], "B": [1.0, 1.3], "C": [0.5]})
    cal = calibrate_threshold(data, 0.5)
    with Gallery(tmp_path / "g.sqlite") as g:
        store_threshold(g, cal)
        assert threshold_for(g, "toy", 9.9) == cal.threshold
