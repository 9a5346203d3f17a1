"""`faceprint serve`: the HTTP service and its web page (needs the ``serve`` extra)."""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path
from typing import Annotated, Optional

import typer

from faceprint.cli._common import Exit, console, handle_errors, print_error
from faceprint.cli._gallery_opts import gallery_arg


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs API keys (faceprint keys create).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port; the URL is printed).")] = 8000,
    gallery: Annotated[Optional[Path], typer.Option("--gallery", "-g", parser=gallery_arg, help="One gallery: a file or postgresql://user@host:port/db, which several servers (replicas) may share (default: $FACEPRINT_GALLERY or the user data directory).")] = None,
    galleries: Annotated[Optional[Path], typer.Option("--galleries", parser=gallery_arg, help="Several galleries, served under /v1/galleries/<name>/: a folder (DIR/<name>.sqlite) or a postgresql:// database (a schema each).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Embedding model (default dlib-resnet-v1).")] = None,
    detector: Annotated[Optional[str], typer.Option(help="Face detector: yunet (default), mtcnn or dlib-hog.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Inference threads.")] = 2,
    queue: Annotated[int, typer.Option(min=0, help="Requests that may wait for an inference thread; more get 503 busy.")] = 16,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds a request may wait and run (then 503 timeout).")] = 30.0,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body in MB (then 413).")] = 10.0,
    max_pixels: Annotated[int, typer.Option(min=1, help="Most pixels in one image (then 413).")] = 40_000_000,
    max_files: Annotated[int, typer.Option(min=1, help="Most image files in one request (then 413).")] = 20,
    max_video_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body to /v1/video in MB (then 413).")] = 50.0,
    max_video_frames: Annotated[int, typer.Option(min=1, help="Most frames in one clip sent to /v1/video (then 413).")] = 1800,
    rate_limit: Annotated[float, typer.Option(min=0.0, help="Requests per minute per API key (then 429); 0: no limit.")] = 600.0,
    lock_wait: Annotated[float, typer.Option(min=0.0, help="Seconds a write waits for a gallery another process is writing to (then 503).")] = 10.0,
    cluster_unknown: Annotated[bool, typer.Option("--cluster-unknown", help="Keep unknown faces of /identify uploads (crop + embedding) in the gallery's clusters for review in the page; retention: faceprint audit --keep-days.")] = False,
) -> None:
    """Serve the HTTP API (/docs) and the web page (/) on HOST:PORT. Models load at start-up: /health answers at once,
    /ready once they are loaded."""
    from faceprint.models import get_model_spec
    from faceprint.detect import list_detectors
    from faceprint.errors import FaceprintError
    from faceprint.service import KeyStore, Limits, ServiceConfig, check_extra

    with handle_errors():
        check_extra()
        if gallery is not None and galleries is not None:
            raise FaceprintError("give --gallery or --galleries, not both")
        if isinstance(galleries, Path):
            if galleries.exists() and not galleries.is_dir():
                raise FaceprintError(f"{galleries}: not a folder")
            galleries.mkdir(parents=True, exist_ok=True)
        if model is not None:
            get_model_spec(model)  # unknown names fail here, listing the valid ones
        if detector is not None and detector not in list_detectors():
            raise FaceprintError(f"unknown detector {detector!r}; choose one of: {', '.join(list_detectors())}")
        limits = Limits(max_body=int(max_body_mb * 1024 * 1024), max_pixels=max_pixels, max_files=max_files,
                        max_video=int(max_video_mb * 1024 * 1024), max_video_frames=max_video_frames,
                        workers=workers, queue=queue, timeout=timeout, rate_limit=rate_limit, lock_wait=lock_wait)
        config = ServiceConfig(gallery=gallery, galleries=galleries, model=model, detector=detector, limits=limits,
                               cluster_unknown=cluster_unknown)
        keys = KeyStore(config.keys_file)
        if not is_loopback(host) and not keys.active():
            print_error(f"refusing to listen on {host} without API keys: anyone on the network could read and "
                        f"change the gallery. Create one first: faceprint keys create --scope admin "
                        f"{'--galleries ' + str(galleries) if galleries else '--gallery ' + str(config.gallery)}")
            raise typer.Exit(int(Exit.USAGE))
        keys.close()
    _run(config, host, port)


def _run(config: object, host: str, port: int) -> None:
    import uvicorn

    from faceprint.service import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        print_error(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise typer.Exit(int(Exit.USAGE)) from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    from faceprint.gallery.store.base import shown_target

    where = f"galleries in {shown_target(config.galleries)}" if config.galleries else f"gallery {shown_target(config.gallery)}"  # type: ignore[attr-defined]
    console.print(f"faceprint serving on http://{shown}:{bound} ({where}); API docs at /docs", highlight=False, soft_wrap=True)
    console.file.flush()
    level = logging.getLogger().getEffectiveLevel()
    _print_access_log()
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="info" if level <= logging.INFO else "warning",  # type: ignore[arg-type]
                                           access_log=False, timeout_graceful_shutdown=5))
    server.run(sockets=[sock])


def _print_access_log() -> None:
    """The service's access log (method, route, status, time, key id; never the key) on stderr, one line a request,
    whatever the log level: a server that says nothing cannot be watched."""
    from faceprint.service.middleware import access_log

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
