"""Shared fixtures: the read-only ../shared folder beside the repo, and a private model/embedding cache.

A clone without ../shared (or without the weights that `make weights` fetches) still runs the suite: each test
that needs them is skipped through `skip_missing`, with one reason per thing missing, and the run ends with a line
that counts those skips. CI sets FACEPRINT_REQUIRE_SHARED=1, and then every such skip is a failure instead.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import NoReturn

import pytest
from serve_helpers import REAL_HOME, link_fetched_weights

pytest_plugins = ["pg_server", "fixtures_embeddings"]

SHARED = Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))

REQUIRE_DATA = os.environ.get("FACEPRINT_REQUIRE_SHARED", "") not in ("", "0")
"""FACEPRINT_REQUIRE_SHARED=1 (set by .ci/run): a test that lacks its data or weights fails instead of skipping."""

MISSING_DATA = "missing data: "
"""Prefix of every skip reason for absent data or weights, which the end-of-run summary counts."""

NO_SHARED = f"no sample data folder at {SHARED} (put it beside the repository or set FACEPRINT_SHARED)"
NO_WEIGHTS = "weights that `make weights` fetches are not in the model cache (run: make weights)"
NO_SAMPLE_PHOTOS = "the demo's sample photos are not in the cache (run: make weights, or make demo)"


def skip_missing(reason: str) -> NoReturn:
    """Skip this test because data or weights it needs are absent; under FACEPRINT_REQUIRE_SHARED=1 fail instead."""
    if REQUIRE_DATA:
        pytest.fail(f"{reason}; FACEPRINT_REQUIRE_SHARED=1 requires every test to run", pytrace=False)
    pytest.skip(MISSING_DATA + reason)


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason text of a skipped test's report ('' when pytest gives none)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return ""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Generator[None, None, None]:
    """End the run with one line: how many tests were skipped for missing data or weights, and why.

    An outermost wrapper, so the line comes after pytest's short summary (the -ra list), just above the counts."""
    yield
    reasons = Counter(r for rep in terminalreporter.stats.get("skipped", []) if (r := _skip_reason(rep)).startswith(MISSING_DATA))
    total = sum(reasons.values())
    if not total:
        switch = " (FACEPRINT_REQUIRE_SHARED=1)" if REQUIRE_DATA else ""
        terminalreporter.write_line(f"faceprint: no test skipped for missing data or weights{switch}")
        return
    why = "; ".join(f"{n} because {r.removeprefix(MISSING_DATA)}" for r, n in reasons.most_common())
    tests = "test" if total == 1 else "tests"
    terminalreporter.write_line(f"faceprint: {total} {tests} skipped for missing data or weights: {why}", yellow=True, bold=True)


MAX_WORKERS = 4
"""`pytest -n auto` (what `make test` runs) starts one worker per core, at most this many: each worker loads its own
models and starts its own PostgreSQL, so more workers mostly cost memory."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""What sets torch's (and numpy's BLAS) threads at import: under pytest-xdist each worker gets its share of the cores."""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: the cores this process may use (its affinity mask, not psutil's physical count), at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def pytest_configure(config: pytest.Config) -> None:
    """In a pytest-xdist worker, before any test imports torch: the worker's share of the cores as its thread count
    (one each with two workers on two cores), so workers do not fight over cores. A value already set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if os.environ.get("PYTEST_XDIST_WORKER") and workers > 1:
        threads = str(max(1, len(os.sched_getaffinity(0)) // workers))
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, threads)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadfile`, set in pyproject.toml, hands out whole files, so a fixture built once
    per module, such as a server or a model, is built once): the files with the most slow tests go first, so that no
    long file starts last and leaves the other workers idle at the end. A run without workers keeps the file order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def slow_tests(file: list[pytest.Item]) -> int:
        return -sum(1 for item in file if item.get_closest_marker("slow"))

    items[:] = [item for file in sorted(files.values(), key=slow_tests) for item in file]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        skip_missing(NO_SHARED)
    return SHARED


@pytest.fixture(scope="session")
def lfw_subset(shared_dir: Path) -> Path:
    return shared_dir / "data" / "lfw-subset"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write the user's ~/.cache/faceprint: a private cache whose weights/ links (read only) to the
    default detector's file fetched there (YuNet), which the default pipeline needs as a user's does after
    `faceprint models fetch yunet`; other fetched weights (FaceNet) come with the `with_weights` fixture."""
    home = tmp_path_factory.getbasetemp() / "faceprint-home"
    if not (home / "weights").is_dir():
        link_fetched_weights(home / "weights")
    monkeypatch.setenv("FACEPRINT_HOME", str(home))


@pytest.fixture(scope="session")
def _weights_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private FACEPRINT_HOME whose weights/ links to the weight files of the real cache (read only)."""
    home = tmp_path_factory.mktemp("faceprint-home-weights")
    link_fetched_weights(home / "weights", only_default=False)
    return home


def fetched_weights(filename: str) -> Path:
    """A weight file that `make weights` fetches into the real cache; skips the test (fails in CI) when it is absent."""
    path = REAL_HOME / "weights" / filename
    if not path.is_file():
        skip_missing(NO_WEIGHTS)
    return path


@pytest.fixture
def with_weights(_weights_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the weights fetched into the real cache (`make test` fetches them first); all writes stay private.

    Skipped (failed in CI) when any of the weights `make weights` fetches is absent."""
    from faceprint.detect.yunet import YUNET_WEIGHTS
    from faceprint.models.facenet import FACENET_WEIGHTS

    for spec in (FACENET_WEIGHTS, YUNET_WEIGHTS):
        fetched_weights(spec.filename)
    monkeypatch.setenv("FACEPRINT_HOME", str(_weights_home))
    return _weights_home


@pytest.fixture
def sample_photos_home(tmp_path: Path) -> Path:
    """A private FACEPRINT_HOME holding links to the demo's sample photos in the real cache (`make weights` fetches
    them); skipped (failed in CI) when they are absent or fail their checksums."""
    from faceprint.models._weights import sha256_file
    from faceprint.sample_photos import FACE_RECOGNITION_PHOTOS as spec

    real = REAL_HOME / "samples" / spec.name
    if not all((real / n).is_file() and sha256_file(real / n) == sha for n, sha in spec.files):
        skip_missing(NO_SAMPLE_PHOTOS)
    home = tmp_path / "faceprint-home-samples"
    (home / "samples" / spec.name).mkdir(parents=True)
    for name, _ in spec.files:
        (home / "samples" / spec.name / name).symlink_to((real / name).resolve())
    link_fetched_weights(home / "weights")  # the default detector's (YuNet): `make demo` fetches it before the demo
    return home
