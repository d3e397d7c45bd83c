"""The OpenAPI description served at /api/v1/openapi.json; features add their paths."""

from __future__ import annotations

from typing import Any

from ctoengine import __version__

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "stable error id"},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}


def error_responses(*codes: int) -> dict[str, Any]:
    texts = {
        400: "bad request",
        401: "missing, unknown or expired token",
        403: "the token's role may not do this (or an operator acts on another agent or call)",
        404: "not found",
        409: "conflict",
        413: "the request body is over 64 KiB",
        422: "invalid routing file",
        429: "too many failed logins from this address; retry after Retry-After seconds",
        503: "a dependency (the database) is unavailable; nothing was changed",
    }
    return {
        str(c): {
            "description": texts.get(c, "error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


def base_spec() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "ctoengine API", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "paths": {
            "/livez": {
                "get": {
                    "summary": "Liveness: 200 while the process and its event loop run; asks no dependency",
                    "responses": {"200": {"description": "alive: {ok: true}"}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: 200 when ARI is up and the database answers within 1 s, else 503",
                    "responses": {
                        "200": {"description": "ready: {ok: true, ari: true, database: true}"},
                        "503": {"description": "not ready: ari or database is false (the one that failed)"},
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The same as /readyz (kept for existing probes)",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text format)",
                    "responses": {"200": {"description": "metrics"}},
                }
            },
        },
    }


def admin_openapi() -> dict[str, Any]:
    sec: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "/api/v1/config/reload": {
            "post": {
                "summary": (
                    "Validate the routing file in full and switch to it (invalid: the old one stays); admin"
                ),
                "security": sec,
                "responses": {"200": {"description": "reloaded"}, **error_responses(401, 403, 413, 422)},
            }
        },
        "/api/v1/emergency": {
            "get": {
                "summary": (
                    "Emergency mode, who decides it (API switch or routing file), who and when;"
                    " supervisor or admin"
                ),
                "security": sec,
                "responses": {"200": {"description": "state"}, **error_responses(401, 403)},
            },
            "post": {
                "summary": (
                    "Switch emergency mode (logged with who and when); stored in the database, so it"
                    " survives a restart; enabled: null gives the decision back to the routing file; admin"
                ),
                "security": sec,
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["enabled", "by"],
                                "properties": {
                                    "enabled": {"type": "boolean", "nullable": True},
                                    "by": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "state"}, **error_responses(400, 401, 403, 413, 503)},
            },
        },
    }
