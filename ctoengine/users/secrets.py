"""Tokens and passwords: random tokens stored as SHA-256, passwords as argon2.

A token is 256 random bits (``secrets.token_urlsafe``); a fast hash is right
for it (nothing to guess), and only the hash is stored. Passwords are chosen
by people, so they get argon2id (``argon2-cffi``'s ``PasswordHasher`` with its
RFC 9106 defaults: 64 MiB, 3 passes): memory-hard and slow by design, hence
always run in a worker thread, at most ``HASH_SLOTS`` at a time, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "cto_"  # noqa: S105 (a prefix, not a secret)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
HASH_SLOTS = 2  # concurrent argon2 computations (each takes 64 MiB)

_hasher = PasswordHasher()
_slots: asyncio.Semaphore | None = None
_dummy_hash: str | None = None


def new_token() -> str:
    """A fresh bearer token (43 URL-safe characters of randomness after the prefix)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored for ``token``: its hex SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def password_problem(password: object) -> str | None:
    """Why ``password`` cannot be used; None when it can."""
    if not isinstance(password, str):
        return "the password must be a string"
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    return None


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


def verify_password_sync(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _semaphore() -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(HASH_SLOTS)
    return _slots


async def hash_password(password: str) -> str:
    async with _semaphore():
        return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; an unknown user (None) costs the same time."""
    global _dummy_hash
    async with _semaphore():
        if stored is None:
            if _dummy_hash is None:
                _dummy_hash = await asyncio.to_thread(hash_password_sync, secrets.token_hex(16))
            await asyncio.to_thread(verify_password_sync, _dummy_hash, password)
            return False
        return await asyncio.to_thread(verify_password_sync, stored, password)
