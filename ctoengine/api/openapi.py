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
    texts = {400: "bad request", 401: "missing or wrong token", 404: "not found", 409: "conflict"}
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
            "/healthz": {
                "get": {
                    "summary": "200 when ARI is connected and the database answers, else 503",
                    "responses": {
                        "200": {"description": "healthy"},
                        "503": {"description": "unhealthy"},
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
