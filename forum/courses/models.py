"""Course → Module → Prompt. Each prompt is one public reflection thread."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.database import UTCDateTime, utcnow
from forum.extensions import Model


class Course(Model):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Data version of the course's pages (its modules and prompts as imported): bumped by
    # every import that changes anything in the course. Part of every cache key.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    modules: Mapped[list[Module]] = relationship(
        back_populates="course", order_by="Module.position"
    )


class Module(Model):
    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("course_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    slug: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(Text, default="")
    journal_prompt: Mapped[str] = mapped_column(Text, default="")

    course: Mapped[Course] = relationship(back_populates="modules")
    prompts: Mapped[list[Prompt]] = relationship(
        back_populates="module", order_by="Prompt.position"
    )


class Prompt(Model):
    """A reflection prompt and the public thread of posts that answers it."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("module_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), index=True)
    slug: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    # Kept by atomic increments in threads.services, so concurrent posts never lose a count.
    post_count: Mapped[int] = mapped_column(default=0)
    last_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Data version of the thread: bumped in the same transaction by every change a reader
    # of the thread could see (threads.services.touch_thread). Part of every cache key.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    module: Mapped[Module] = relationship(back_populates="prompts")
