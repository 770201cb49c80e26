"""Argon2id password hashing, in one place so parameters can change in one place.

The cost parameters come from config (ARGON2_TIME_COST, ARGON2_MEMORY_COST in KiB,
ARGON2_PARALLELISM); a stored hash made with older parameters is upgraded at the next login.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from forum.signals import sender


@dataclass(frozen=True)
class _Hashing:
    hasher: PasswordHasher
    # Verifying against a throwaway hash when an email is unknown keeps both answers
    # equally slow, so timing doesn't tell which addresses have accounts.
    dummy_hash: str


def _hashing() -> _Hashing:
    app = sender()
    hashing = app.extensions.get("hearth_password_hashing")
    if hashing is None:
        hasher = PasswordHasher(
            time_cost=app.config["ARGON2_TIME_COST"],
            memory_cost=app.config["ARGON2_MEMORY_COST"],
            parallelism=app.config["ARGON2_PARALLELISM"],
            type=Type.ID,
        )
        hashing = _Hashing(hasher, hasher.hash("not-a-real-password"))
        app.extensions["hearth_password_hashing"] = hashing
    return hashing


def hash_password(password: str) -> str:
    return _hashing().hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; spends the same time when there is no hash."""
    hashing = _hashing()
    try:
        return hashing.hasher.verify(password_hash or hashing.dummy_hash, password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hashing().hasher.check_needs_rehash(password_hash)
