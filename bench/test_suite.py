"""How long `make test`'s suite takes now against the suite of an earlier commit, on the same machine, back to back,
both measuring line coverage of src/faceprint.

    python bench/test_suite.py                          # this tree against 3c94b8a (the suite when issue 25 was filed)
    python bench/test_suite.py --baseline-dir /work/wt-baseline --workers 2
    python bench/test_suite.py --only new               # this tree alone
    python bench/test_suite.py tests/test_align.py      # a quick try of the script: these tests only, in both trees

Each suite runs the command of its own tree's `make test` (3c94b8a: `pytest -q`, one process; this tree:
`pytest -q -n auto`, one pytest-xdist worker per core), with pytest-cov added (`--cov=faceprint`, line coverage of
that tree's src/faceprint, which PYTHONPATH puts first), from that tree's root, in the same virtualenv, with what
`.ci/run` sets: FACEPRINT_SHARED, FACEPRINT_REQUIRE_SHARED=1 (a test skipped for missing data or weights fails) and
CI=true. The weights step of `make test` is left out: it is the same for both, and quick once fetched.

This tree runs first, so the page cache it warms (torch, the weights, the photos) favours the earlier suite, not
this one. The earlier commit is checked out with `git worktree add --detach` when --baseline-dir does not exist.

Prints, per suite: the tests' outcome, wall time, CPU time (user + system of pytest and every process it waited for:
its workers, the CLI and server subprocesses; not daemons such as the PostgreSQL server that pg_ctl detaches),
coverage (covered / statements), and the load average before and after: on a shared machine wall time follows the
other load, CPU time much less. Then the ratios, new / earlier.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REV = "3c94b8a"
"""The suite when issue 25 was filed (about 500 tests): what "today" means in its goal."""


@dataclass
class SuiteRun:
    """One suite's run: what pytest said and what it cost."""

    label: str
    tree: Path
    outcome: str
    returncode: int
    wall_s: float
    cpu_s: float
    covered: int
    statements: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def coverage(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 0.0


def ensure_baseline(folder: Path, rev: str) -> Path:
    """The earlier commit's tree: `folder` when it exists (it must be at `rev`), else a detached worktree there."""
    if not folder.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev], check=True)
    head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    want = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True, text=True, check=True)
    if head.stdout.strip() != want.stdout.strip():
        sys.exit(f"{folder} is at {head.stdout.strip()[:10]}, not at {rev}: remove it or pass another --baseline-dir")
    return folder


def run_suite(name: str, label: str, tree: Path, pytest_args: list[str], shared: Path, out: Path,
              timeout: float) -> SuiteRun:
    """Run one tree's suite with coverage; its output goes to out/<name>.log."""
    cov_json = out / f"{name}-coverage.json"
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "FACEPRINT_SHARED": str(shared),
           "FACEPRINT_REQUIRE_SHARED": "1", "CI": "true", "COVERAGE_FILE": str(out / f"{name}.coverage")}
    cmd = [sys.executable, "-m", "pytest", *pytest_args, "-p", "no:cacheprovider", "--durations=40",
           "--cov=faceprint", "--cov-report=", f"--cov-report=json:{cov_json}"]
    print(f"{label}: {' '.join(cmd[1:])}  (in {tree})", flush=True)
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(out / f"{name}.log", "w") as log:
        try:
            proc = subprocess.run(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = (out / f"{name}.log").read_text(errors="replace")
    outcomes = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?) in [\d.]+s", text, re.MULTILINE)
    outcome = outcomes[-1] if outcomes else ("timed out" if returncode == -1 else f"no summary (exit {returncode})")
    covered = statements = 0
    if cov_json.exists():
        totals = json.loads(cov_json.read_text())["totals"]
        covered, statements = totals["covered_lines"], totals["num_statements"]
    run = SuiteRun(label, tree, outcome, returncode, wall, cpu, covered, statements, load_before, load_after)
    print(f"{label}: {outcome}; wall {wall:.0f} s, CPU {cpu:.0f} s, coverage {run.coverage:.2f}%", flush=True)
    return run


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def print_table(runs: list[SuiteRun]) -> None:
    print()
    print(f"machine: {len(os.sched_getaffinity(0))} cores; load average = 1/5/15 minutes")
    head = f"{'suite':<22} {'tests':<44} {'wall s':>7} {'CPU s':>7} {'coverage':>18} {'load before':>17} {'load after':>17}"
    print(head)
    print("-" * len(head))
    for r in runs:
        cov = f"{r.coverage:.2f}% ({r.covered}/{r.statements})"
        print(f"{r.label:<22} {r.outcome[:44]:<44} {r.wall_s:>7.0f} {r.cpu_s:>7.0f} {cov:>18} "
              f"{_load(r.load_before):>17} {_load(r.load_after):>17}")
    if len(runs) == 2:
        new, old = runs
        print()
        print(f"new / earlier: wall x{new.wall_s / old.wall_s:.2f} ({100 * (new.wall_s / old.wall_s - 1):+.0f}%), "
              f"CPU x{new.cpu_s / old.cpu_s:.2f} ({100 * (new.cpu_s / old.cpu_s - 1):+.0f}%), "
              f"coverage {new.coverage - old.coverage:+.2f} points")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default=BASELINE_REV, help="the earlier commit (default: %(default)s)")
    ap.add_argument("--baseline-dir", type=Path, default=ROOT.parent / "wt-baseline",
                    help="its checkout; made with `git worktree add --detach` when absent (default: %(default)s)")
    ap.add_argument("--workers", default="auto", help="pytest -n for this tree's suite (default: %(default)s, as make test)")
    ap.add_argument("--only", choices=["new", "baseline"], help="run one suite only")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPRINT_SHARED", ROOT.parent / "shared")),
                    help="the sample data folder (default: %(default)s)")
    ap.add_argument("--out", type=Path, help="where the logs and coverage files go (default: a new temporary folder)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per suite (default: %(default)s)")
    ap.add_argument("tests", nargs="*", help="test files or ids to run instead of the whole suite (paths of both trees)")
    args = ap.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="faceprint-suite-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"logs in {out}; load average {_load(os.getloadavg())}", flush=True)
    runs = []
    if args.only != "baseline":
        runs.append(run_suite("new", "this tree", ROOT, ["-q", "-n", args.workers, *args.tests], args.shared, out,
                              args.timeout))
    if args.only != "new":
        baseline = ensure_baseline(args.baseline_dir.resolve(), args.baseline)
        runs.append(run_suite("baseline", f"{args.baseline} (today)", baseline, ["-q", *args.tests], args.shared, out,
                              args.timeout))
    print_table(runs)
    if any(r.returncode != 0 for r in runs):
        print("\nnote: a suite did not pass; see its log above the figures (its time still counts)")


if __name__ == "__main__":
    main()
