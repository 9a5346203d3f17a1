"""The FastAPI app: `create_app(config)` builds it; its lifespan loads the models in the background at start-up.

``GET /health`` answers as soon as the server listens; ``GET /ready`` once the models are loaded (503 before).
Every error is the JSON envelope of `faceprint.service.errors`; a bug answers 500 ``internal_error`` without a
traceback (the log has it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceprint import __version__
from faceprint.errors import FaceprintError
from faceprint.service.config import ServiceConfig
from faceprint.service.errors import ERROR_CODES, HttpError, api_error_for, envelope
from faceprint.service.middleware import AccessLogMiddleware, BodyLimitMiddleware, MethodsMiddleware
from faceprint.service.openapi import install_docs, install_openapi
from faceprint.service.routes import admin_router, gallery_router, inference_router
from faceprint.service.schemas import ErrorOut, HealthOut, ReadyOut
from faceprint.service.state import ServiceState

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = resources.files("faceprint.service") / "static"


def _error(err: HttpError) -> JSONResponse:
    return JSONResponse(envelope(err.code, err.message), status_code=err.status, headers=err.headers)


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """The app for one server. Nothing is loaded until it starts (the lifespan), so building it is cheap.

    >>> app = create_app(ServiceConfig(gallery=Path("people.sqlite")))     # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)                       # doctest: +SKIP
    """
    config = config or ServiceConfig()
    state = ServiceState.from_config(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.get_running_loop().run_in_executor(None, state.load)
        try:
            yield
        finally:
            await asyncio.shield(loading)
            state.pool.shutdown()
            state.keys.close()

    app = FastAPI(
        title="faceprint",
        version=__version__,
        summary="Face detection, verification and identification with an open-set gallery.",
        lifespan=lifespan,
        docs_url=None,  # install_docs: pages whose scripts this server serves
        redoc_url=None,
        responses={status: {"model": ErrorOut} for status in sorted({s for s, _ in ERROR_CODES.values()})},
    )
    app.state.fp = state
    app.add_middleware(MethodsMiddleware)  # (the first added runs last: inside the body limit)
    app.add_middleware(BodyLimitMiddleware, max_body=config.limits.max_body, max_video=config.limits.max_video,
                       timeout=config.limits.timeout)
    app.add_middleware(AccessLogMiddleware)

    @app.exception_handler(HttpError)
    async def _api_error(request: Request, exc: HttpError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(FaceprintError)
    async def _library_error(request: Request, exc: FaceprintError) -> JSONResponse:
        err = api_error_for(exc)
        if err.code in ("internal_error", "gallery_unavailable"):  # the details stay in the log
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return _error(err)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        msg = f"no route {request.method} {request.url.path}" if code != "bad_request" else str(exc.detail)
        if code == "not_found" and config.multi and request.url.path.startswith("/v1/") and not request.url.path.startswith("/v1/galleries"):
            msg += " (this server holds several galleries: use /v1/galleries/{gallery}/...)"
        return JSONResponse(envelope(code, msg), status_code=404 if code == "not_found" else exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return _error(HttpError("invalid_parameter", "; ".join(parts) or "invalid request"))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(HttpError("internal_error", "internal error; the server log has the details"))

    @app.get("/health", tags=["status"], response_model=HealthOut)
    async def health() -> dict[str, Any]:
        """Answers as soon as the server listens."""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["status"], responses={200: {"model": ReadyOut}})
    async def ready() -> JSONResponse:
        """200 once the models are loaded; 503 not_ready before (or when loading failed, with the reason)."""
        if not state.ready.is_set():
            msg = f"loading the models failed: {state.load_error}" if state.load_error else "the models are still loading"
            return _error(HttpError("not_ready", msg, {"Retry-After": "2"}))
        a = state.analyzer
        return JSONResponse({"status": "ready", "model": a.model, "detector": a.detector.name, "multi": config.multi})  # type: ignore[union-attr]

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(inference_router)
    app.include_router(admin_router)
    app.include_router(gallery_router(config.multi))
    install_docs(app)
    install_openapi(app, config, state.keys.any)
    return app
