"""The API's description at /openapi.json, and its readers /docs (Swagger UI) and /redoc, served offline.

The schema FastAPI derives from the routes is completed here: each route's request body from its declaration in
`service.bodies` (with this server's limits), the name rule's pattern on every ``{name}``, every error answer as
the service's envelope (FastAPI would document its own 422 body), and the API-key security schemes while the
server has keys. The Swagger UI and ReDoc scripts come from the ``fastapi-offline`` package (part of the ``serve``
extra) and are served by this server under /docs-assets, so the pages render without reaching any other host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from faceprint._extras import optional_module
from faceprint.names import MAX_NAME_LENGTH, name_pattern
from faceprint.service.bodies import BODIES
from faceprint.service.config import ServiceConfig

__all__ = ["install_openapi", "install_docs", "docs_assets"]

_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `faceprint keys create`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the same key, in this header"},
}
_OPEN = {"/health", "/ready"}
"""Paths that never need a key."""


def _complete(schema: dict[str, Any], config: ServiceConfig) -> dict[str, Any]:
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, item in schema.get("paths", {}).items():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            route = op.pop("x-faceprint-body", None)
            if route is not None:
                op["requestBody"] = BODIES[route].openapi(config.limits)
            for p in op.get("parameters", []):
                if p.get("in") == "path" and p.get("name") == "name":
                    p["schema"] = {**p.get("schema", {}), "type": "string", "pattern": name_pattern(), "maxLength": MAX_NAME_LENGTH}
            for content in op.get("requestBody", {}).get("content", {}).values():
                for prop in content.get("schema", {}).get("properties", {}).values():
                    if prop.pop("x-faceprint-name", False):
                        prop["pattern"] = name_pattern()
            for status, resp in op.get("responses", {}).items():
                if status[0] in "45":
                    resp["content"] = {"application/json": {"schema": error_ref}}
            if path.startswith("/v1/"):
                op["responses"].setdefault("401", {"description": "no API key, or an unknown or revoked one",
                                                   "content": {"application/json": {"schema": error_ref}}})
    if not config.multi:  # one gallery: no gallery names to list or bind keys to
        schema["paths"].pop("/v1/galleries", None)
        key_body = schema["paths"]["/v1/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        key_body["properties"] = {k: v for k, v in key_body["properties"].items() if k != "gallery"}
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        comps.pop(unused, None)
    return schema


def install_openapi(app: FastAPI, config: ServiceConfig, has_keys: Any) -> None:
    """Replace `app.openapi` with the completed schema; `has_keys()` says whether to declare the key schemes (a
    server with no keys asks for none)."""
    base: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not base:
            base.update(_complete(get_openapi(title=app.title, version=app.version, summary=app.summary,
                                              description=app.description, routes=app.routes), config))
        schema = dict(base)
        if has_keys():
            schema["components"] = {**base["components"], "securitySchemes": _SECURITY_SCHEMES}
            schema["paths"] = {
                path: {m: ({**op, "security": [{"bearer": []}, {"apiKey": []}]} if path.startswith("/v1/") else op)
                       for m, op in item.items()}
                for path, item in base["paths"].items()
            }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def docs_assets() -> Path:
    """The folder of Swagger UI and ReDoc files (from the fastapi-offline package); MissingExtra without it."""
    return Path(optional_module("fastapi_offline", "fastapi-offline", "serve").__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI, with an Authorize button for the key) and /redoc, their files under /docs-assets."""
    assets = "/docs-assets"
    app.mount(assets, StaticFiles(directory=str(docs_assets())), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API", swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{assets}/swagger-ui.css", swagger_favicon_url=f"{assets}/favicon.png",
                                   swagger_ui_parameters={"persistAuthorization": False})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} API", redoc_js_url=f"{assets}/redoc.standalone.js",
                              redoc_favicon_url=f"{assets}/favicon.png", with_google_fonts=False)
