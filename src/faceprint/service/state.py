"""What a running server holds: built in the app's lifespan, reached by routes as ``request.app.state.fp``."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from faceprint.analyzer import FaceAnalyzer
from faceprint.api import Gallery
from faceprint.service.config import ServiceConfig
from faceprint.service.galleries import GalleryHub
from faceprint.service.keys import KeyStore
from faceprint.service.pool import InferencePool
from faceprint.service.ratelimit import RateLimiter

__all__ = ["ServiceState"]

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    config: ServiceConfig
    keys: KeyStore
    limiter: RateLimiter
    pool: InferencePool
    analyzer: FaceAnalyzer | None = None
    hub: GalleryHub | None = None
    load_error: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    clusters: dict[tuple[str | None, str], tuple[object, object]] = field(default_factory=dict)
    """(gallery, model) -> (the gallery's change token, its stored clusters as last read): what the /clusters reads
    and every thumbnail share instead of parsing the clusters again (routes/clusters.py)."""

    @classmethod
    def from_config(cls, config: ServiceConfig) -> ServiceState:
        lim = config.limits
        return cls(config, KeyStore(config.keys_file), RateLimiter(lim.rate_limit), InferencePool(lim.workers, lim.queue, lim.timeout))

    def load(self) -> None:
        """Build the pipeline (detector + model) and open the galleries; run once at start-up, off the event loop."""
        try:
            analyzer = FaceAnalyzer(
                **{k: v for k, v in (("model", self.config.model), ("detector", self.config.detector)) if v is not None}
            )
            import numpy as np

            analyzer.get(np.zeros((64, 64, 3), np.uint8))  # first run builds the sessions: do it now, not per request
            if not self.config.multi:
                Gallery(self.config.gallery).close()  # create (or check) the file now, not at the first request
            self.hub = GalleryHub(self.config, analyzer)
            self.analyzer = analyzer
            self.ready.set()
            log.info("models loaded: %s + %s", analyzer.model, analyzer.detector.name)
        except Exception as exc:  # reported by /ready; the process stays up to say so
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("loading the models failed")
