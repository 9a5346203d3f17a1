"""The seeded 300-case subset of the hostile-input campaign (bench/fuzz_images.py runs 10,000): mutated real
photos through load_image, detect, embed, identify and the CLI raise nothing but FaceprintError and never hang."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "fuzz_images.py"


def _campaign():
    spec = importlib.util.spec_from_file_location("fuzz_images", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_images", module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["fuzz_images"])
    return sys.modules["fuzz_images"]


@pytest.mark.slow
def test_three_hundred_hostile_images(shared_dir: Path) -> None:
    fuzz = _campaign()
    s = fuzz.run_campaign(300, seed=0, shared=shared_dir, cli_every=10, timeout=10.0)
    details = "\n".join(f"{c.kind} {c.detail}: {why}" for c, why in s.failures[:5])
    assert s.cases == 300 and s.uncaught == 0 and s.hangs == 0, details
    assert all(t.cases >= 27 for t in s.tallies.values()) and len(s.tallies) == 11  # every mutation drawn
    assert sum(t.loaded for t in s.tallies.values()) > 100 and sum(t.faces for t in s.tallies.values()) > 50
    assert sum(t.clean_errors for t in s.tallies.values()) > 50  # the campaign reaches the error paths too
    assert s.cli_runs == 30 and set(s.cli_exit_codes) <= {0, 2}


def test_every_mutation_makes_what_it_says(shared_dir: Path) -> None:
    """A few properties of the generated files, so the campaign cannot quietly degrade to harmless inputs."""
    fuzz = _campaign()
    m = fuzz.Mutator(fuzz._base_photos(shared_dir), seed=1)
    case = m.header_dims()
    assert case.kind == "header dims" and case.data
    strips = [m.strip() for _ in range(10)]
    assert any(c.detail.startswith(("4000x1 ", "1x4000 ")) for c in strips)
    assert m.not_an_image().suffix == ".jpg"
    orientations = {m.exif_orientation().detail.split()[0] for _ in range(60)}
    assert {"0", "9", "20"} & orientations
