"""The one name rule (faceprint.names) and every way in that applies it: the store, the Python API, the CLI.
(The HTTP service's side, 422 never 500: test_service.py::test_names_over_http.)"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

import faceprint
from faceprint.cli.app import app
from faceprint.cli._common import Exit
from faceprint.errors import InvalidName
from faceprint.gallery.store import Gallery as GalleryStore
from faceprint.names import MAX_NAME_LENGTH, check_name, lookup_name, name_pattern, person_name

BAD = {
    "a\nb": "control", "a\x00b": "control", "a\tb": "control", "a\u200bb": "format",  # newline, NUL, tab, zero-width space
    "x\u200d": "format", "\u202eevil": "format", "AC/DC": "'/'", "   ": "visible", "": "visible",
    "x" * (MAX_NAME_LENGTH + 1): "at most", "a\u2028b": "line separator", "a\ud800": "surrogate",
}


def test_names_are_trimmed_nfc_and_refused_with_the_reason() -> None:
    assert person_name("  Bob ") == "Bob"
    decomposed = "Ade\u0301le"  # e + combining acute
    assert person_name(decomposed) == unicodedata.normalize("NFC", decomposed) == "Ad\u00e9le"
    assert person_name("Zoë Saldaña-Nazario (ゾーイ)") == "Zoë Saldaña-Nazario (ゾーイ)"
    for name, why in BAD.items():
        with pytest.raises(InvalidName, match=re.escape(why)):
            person_name(name)
    with pytest.raises(InvalidName):
        person_name(42)  # type: ignore[arg-type]
    assert lookup_name(" Bob ") == "Bob" and lookup_name("AC/DC") == "AC/DC"  # older names are still found


def test_the_openapi_pattern_is_the_same_rule() -> None:
    pattern = re.compile(name_pattern())
    for name in ["Bob", " Bob ", "Zoë", "O'Brien", "李小龍", "a b"]:
        assert pattern.fullmatch(name), name
    for name in BAD:
        if len(name) <= MAX_NAME_LENGTH and "\ud800" not in name:  # (no pattern names surrogates: see name_pattern)
            assert not pattern.fullmatch(name), repr(name)


def test_the_store_keeps_only_normalised_names(tmp_path: Path) -> None:
    with GalleryStore(tmp_path / "g.sqlite") as g:
        with pytest.raises(InvalidName, match="normalised"):
            g.person_id(" Bob", create=True)
        with pytest.raises(InvalidName):
            g.person_id("a\nb", create=True)
        g.person_id("Bob", create=True)
        with pytest.raises(InvalidName):
            g.rename_person("Bob", "AC/DC")
    assert check_name("Bob") == "Bob"


def test_python_api_and_cli_apply_the_rule(tmp_path: Path, lfw_subset: Path) -> None:
    photo = sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[0]
    path = tmp_path / "g.sqlite"
    with faceprint.Gallery(path) as g:
        g.enroll("  Colin ", [photo])
        assert [p.name for p in g.people()] == ["Colin"]
        with pytest.raises(InvalidName):
            g.enroll("x\u200by", [photo])
        with pytest.raises(InvalidName):
            g.rename("Colin", "AC/DC")
        g.rename(" Colin", "Colin Powell ")
        assert [p.name for p in g.people()] == ["Colin Powell"]
    runner = CliRunner()
    bad = runner.invoke(app, ["people", "rename", "Colin Powell", "a\nb", "--gallery", str(path)])
    assert bad.exit_code == Exit.BAD_INPUT and "control character" in bad.output, bad.output
    ok = runner.invoke(app, ["people", "rename", "Colin Powell", " Powell ", "--gallery", str(path)])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["enroll", str(photo), "--person", "AC/DC", "--gallery", str(path)])
    assert bad.exit_code == Exit.BAD_INPUT and "'/'" in bad.output, bad.output
    with faceprint.Gallery(path) as g:
        assert [p.name for p in g.people()] == ["Powell"]
