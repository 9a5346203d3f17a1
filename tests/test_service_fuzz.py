"""schemathesis against a real `faceprint serve` on 127.0.0.1: every route's documented schema is fuzzed (examples,
coverage, fuzzing, then a stateful phase that follows the API's links), with every check on.

Bounded: 5 examples per operation, a 45 s budget, a fixed seed. The server has one admin key, the fuzzer's; the
server refuses to let a key revoke itself (and the last admin key), so the fuzzer cannot lock itself out. Image
fields get real LFW photos (tests/fuzz/schemathesis_hooks.py), so schema-valid requests carry photos the server
can read. The server keeps unknown faces for clustering (--cluster-unknown) and starts with two stored clusters,
so that the /clusters routes are fuzzed over real clusters. /v1/video is left out: its clips are fuzzed by nothing here (test_service_video.py covers the route).
The one change to schemathesis's defaults (tests/fuzz/schemathesis.toml): 413 counts as rejecting a request.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from faceprint.service.keys import KeyStore, keys_path  # noqa: E402
from serve_helpers import Server  # noqa: E402

pytestmark = pytest.mark.slow

SEED = 21


def test_schemathesis_finds_nothing(tmp_path: Path, lfw_subset: Path) -> None:
    gallery = tmp_path / "people.sqlite"
    store = KeyStore(keys_path(gallery))
    key, rec = store.create("admin", label="fuzzer")
    store.close()
    photos = [sorted((lfw_subset / p).glob("*.jpg"))[0] for p in ("Ariel_Sharon", "Colin_Powell", "Jacques_Chirac")]
    server = Server("--gallery", str(gallery), "--rate-limit", "0", "--timeout", "30", "--cluster-unknown", home=tmp_path / "home")
    try:
        # stored clusters for the /clusters routes to work on: unknown faces of uploads (--cluster-unknown)
        for person in ("Tony_Blair", "Colin_Powell"):
            for p in sorted((lfw_subset / person).glob("*.jpg"))[:3]:
                server.client(key).identify(p)
        assert server.client(key).clusters()["total"] >= 2
        env = {**os.environ, "FACEPRINT_FUZZ_IMAGES": "\n".join(str(p.resolve()) for p in photos),
               "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "fuzz"), os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(Path(__file__).parent / "fuzz" / "schemathesis.toml"),
               "run", f"{server.url}/openapi.json",
               "-H", f"Authorization: Bearer {key}", "--checks", "all", "--seed", str(SEED), "--max-examples", "5",
               "--max-time", "45", "--request-timeout", "30", "--exclude-path", "/v1/video", "--no-color",
               "--report", "json", "--report-dir", str(tmp_path / "report")]
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
        report = json.loads(next((tmp_path / "report").glob("*.json")).read_text())
        failures = {f"{f['code']} {f['title']}": f["count"] for f in report["failures"]}
        cases = report["test_cases"]
        print(f"schemathesis seed {SEED}: {cases['generated']} cases, {report['operations']['tested']} operations, "
              f"phases {({k: v['status'] for k, v in report['phases'].items()})}, failures {failures or 0}, "
              f"{report['running_time']:.0f} s, load average {os.getloadavg()[0]:.1f}")
        shown = re.sub(r'"(/9j/|data:image)[^"]*"', '"<photo>"', run.stdout)  # without the photos' base64
        assert not failures and not report["errors"], shown[shown.find("= FAILURES ="):][:8000]
        assert report["phases"]["stateful"]["status"] == "success", report["phases"]
        assert cases["generated"] >= 150 and report["operations"]["tested"] >= 15
        # the fuzzer's key still opens the server: it could not revoke itself
        assert next(k for k in server.client(key).keys() if k["id"] == rec.id)["revoked"] is None
        assert not any(" 500 " in line for line in server.output), "".join(server.output[-50:])
        answered: dict[str, int] = {}
        for line in server.output:
            m = re.search(r"(\w+ /v1/clusters\S*) (\d{3}) ", line)
            if m and m.group(2).startswith("2"):
                answered[m.group(1)] = answered.get(m.group(1), 0) + 1
        print(f"/clusters routes answered 2xx: {dict(sorted(answered.items()))}")
    finally:
        server.stop()
