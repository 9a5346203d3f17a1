"""Start `faceprint serve` as a real process on an ephemeral 127.0.0.1 port, for the service tests."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from faceprint.client import ApiError, Client


class Server:
    """`faceprint serve --port 0 ARGS` in a subprocess; `url` once it listens, `wait_ready()` for the models."""

    def __init__(self, *args: str, ready: bool = True, startup: float = 120.0, home: Path | None = None) -> None:
        """`home`: the server's FACEPRINT_HOME (model cache); module-scoped servers start before the test's
        private-cache fixture runs, so they pass their own to keep off the user's cache."""
        self.args = [sys.executable, "-m", "faceprint.cli", "serve", "--port", "0", *args]
        env = os.environ.copy()
        if home is not None:
            env["FACEPRINT_HOME"] = str(home)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.output: list[str] = []
        self.url = self._read_url(startup)
        if ready:
            self.wait_ready(startup)

    def _read_url(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < end:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                line = self.proc.stdout.readline().decode(errors="replace")
                if not line and self.proc.poll() is not None:
                    break
                self.output.append(line)
                m = re.search(r"serving on (http://\S+:\d+)", line)
                if m:
                    # keep reading what the server prints (its access log): a full pipe would stop the server
                    threading.Thread(target=self._drain, daemon=True).start()
                    return m.group(1)
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"server did not start: {''.join(self.output)}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                self.output.append(raw.decode(errors="replace"))
        except (ValueError, OSError):  # stop() closed the pipe
            pass

    def client(self, key: str | None = None, gallery: str | None = None) -> Client:
        return Client(self.url, key, gallery=gallery, timeout=60)

    def wait_ready(self, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.client().ready()
                return
            except ApiError as exc:
                if exc.code != "not_ready" or "failed" in exc.message:
                    raise
            time.sleep(0.2)
        raise RuntimeError("server not ready in time")

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def faceless_jpeg(path: Path, size: tuple[int, int] = (200, 160)) -> Path:
    """A plain grey photo: a readable image with no face in it."""
    from PIL import Image

    Image.new("RGB", size, (128, 128, 128)).save(path, format="JPEG")
    return path
