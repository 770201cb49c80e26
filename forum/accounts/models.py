"""Accounts: who someone is, how they prove it, and what role they have."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from forum.database import UTCDateTime, enum_type, utcnow
from forum.extensions import Model


class Role(StrEnum):
    PARTICIPANT = "participant"
    FACILITATOR = "facilitator"
    MODERATOR = "moderator"
    ADMIN = "admin"


def new_session_token() -> str:
    return secrets.token_hex(16)


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see services.normalize_email), so uniqueness is case-blind.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role, 20), default=Role.PARTICIPANT)
    # Part of the login cookie's id; rotating it signs out every other session.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by moderation's sanctions; the core only reads it.
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_confirmed(self) -> bool:
        return self.email_confirmed_at is not None

    @property
    def is_suspended(self) -> bool:
        return self.suspended_until is not None and self.suspended_until > utcnow()

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles or self.role == Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.role in {Role.FACILITATOR, Role.MODERATOR, Role.ADMIN}

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"
