"""One exception tree for the engine.

::

    CtoError                      every error the engine raises on purpose
    ├── SettingsError             a missing or malformed setting (exit 2, one line)
    ├── ConfigError               an invalid routing file (lives in ctoengine.config)
    ├── UsageError                a command-line argument that cannot be used
    ├── AriError                  Asterisk's REST interface failed
    │   ├── AriUnavailable        cannot connect / wrong address
    │   ├── AriAuthError          wrong ARI user or password (401)
    │   └── AriNotFound           404: the channel/bridge/playback is gone — after
    │                             a hangup this is a race, not a failure
    ├── DatabaseError             PostgreSQL is unreachable or refused us
    │   └── MigrationError        a migration failed or an applied file changed
    └── ApiError                  an HTTP API error with status, error id and details
        ├── BadRequest (400)
        ├── Unauthorized (401)
        ├── Forbidden (403)       the caller's role may not do this
        ├── NotFound (404)
        ├── Conflict (409)
        ├── TooLarge (413)        the request body is over the limit
        ├── Unprocessable (422)
        ├── TooManyRequests (429)
        └── Unavailable (503)

Errors of aiohttp, asyncpg and aioari are translated into these at the
boundary (ctoengine.ari, ctoengine.db, ctoengine.api), so the rest of the
engine and the CLI catch ``CtoError`` and print one clear line.
"""

from __future__ import annotations

from typing import Any


class CtoError(Exception):
    """Base of every error the engine raises on purpose."""


class SettingsError(CtoError):
    pass


class UsageError(CtoError):
    pass


class AriError(CtoError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AriUnavailable(AriError):
    pass


class AriAuthError(AriError):
    pass


class AriNotFound(AriError):
    pass


class DatabaseError(CtoError):
    pass


class MigrationError(DatabaseError):
    pass


class ApiError(CtoError):
    status = 500
    error_id = "internal_error"

    def __init__(self, message: str, *, error_id: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if error_id is not None:
            self.error_id = error_id
        self.details = details
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error_id, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class BadRequest(ApiError):
    status = 400
    error_id = "bad_request"


class Unauthorized(ApiError):
    status = 401
    error_id = "unauthorized"


class Forbidden(ApiError):
    status = 403
    error_id = "forbidden"


class NotFound(ApiError):
    status = 404
    error_id = "not_found"


class Conflict(ApiError):
    status = 409
    error_id = "conflict"


class Unprocessable(ApiError):
    status = 422
    error_id = "invalid_config"


class TooLarge(ApiError):
    status = 413
    error_id = "too_large"


class TooManyRequests(ApiError):
    status = 429
    error_id = "too_many_requests"


class Unavailable(ApiError):
    status = 503
    error_id = "unavailable"
