"""What a server is started with: where its galleries are, which pipeline it runs, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from faceprint.service.keys import keys_path

__all__ = ["Limits", "ServiceConfig"]


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request, one key and the whole server may ask for."""

    max_body: int = 10 * 1024 * 1024
    """Bytes in a request body (-> 413 body_too_large)."""
    max_pixels: int = 40_000_000
    """Pixels in one decoded image, read from its header before decoding (-> 413 image_too_large)."""
    max_files: int = 20
    """Image files in one request (-> 413 too_many_files)."""
    workers: int = 2
    """Inference threads."""
    queue: int = 16
    """Inference requests that may wait for a thread; one more gets 503 busy with Retry-After."""
    timeout: float = 30.0
    """Seconds one request may wait and run for (-> 503 timeout)."""
    rate_limit: float = 600.0
    """Requests per minute per key (a burst of this many is allowed), -> 429 with Retry-After; 0 for no limit."""
    lock_wait: float = 10.0
    """Seconds a write waits for a gallery that another process is writing to (-> 503 gallery_locked)."""
    max_top_k: int = 100
    max_video: int = 50 * 1024 * 1024
    """Bytes in a request body to a /video route, instead of `max_body` (-> 413 video_too_large)."""
    max_video_frames: int = 1800
    """Frames in one clip (60 s at 30 frames/s), from its header before decoding and counted while decoding
    (-> 413 video_too_large)."""

    def __post_init__(self) -> None:
        for name in ("max_body", "max_pixels", "max_files", "workers", "max_video", "max_video_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.queue < 0 or self.timeout <= 0 or self.rate_limit < 0 or self.lock_wait < 0:
            raise ValueError("queue, rate_limit and lock_wait must be >= 0 and timeout > 0")


@dataclass(frozen=True)
class ServiceConfig:
    """One gallery (``gallery``: a file, or a ``postgresql://`` URL that several servers may share) or several
    (``galleries``: a folder, each DIR/<name>.sqlite, or a PostgreSQL database, each a schema), never both."""

    gallery: Path | str | None = None
    galleries: Path | str | None = None
    model: str | None = None
    detector: str | None = None
    limits: Limits = field(default_factory=Limits)
    cluster_unknown: bool = False
    """Keep the unknown faces of /identify uploads (crop and embedding) in the gallery's stored clusters, for
    review in the page's Clusters tab (faceprint.cluster.review); off by default: they are biometric data of people
    who did not enrol."""

    def __post_init__(self) -> None:
        if self.gallery is not None and self.galleries is not None:
            raise ValueError("give --gallery or --galleries, not both")
        if self.gallery is None and self.galleries is None:
            from faceprint.gallery.store import default_gallery_path

            object.__setattr__(self, "gallery", default_gallery_path())

    @property
    def multi(self) -> bool:
        return self.galleries is not None

    @property
    def keys_file(self) -> Path | str:
        return keys_path(self.gallery, None) if self.galleries is None else keys_path(None, self.galleries)
