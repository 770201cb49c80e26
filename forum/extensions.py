"""Flask extensions, created unbound; ``create_app`` binds them to an app."""

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names, so Alembic can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# Models subclass ``Model``: at run time Flask-SQLAlchemy's ``db.Model`` (table names,
# binds), and for the type checker the typed declarative base it is built on.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
# Storage comes from RATELIMIT_STORAGE_URI: memory:// for one process, redis:// for many.
limiter = Limiter(key_func=get_remote_address)

F = TypeVar("F", bound=Callable)


def unlimited_read(view: F) -> F:
    """Mark a view that no rate limit applies to when read (GET, HEAD): the limiter skips
    its bookkeeping for such a request (a busy page's requests would pay for it)."""
    view.hearth_unlimited_read = True  # type: ignore[attr-defined]
    return view


@limiter.request_filter
def _unlimited_reads() -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "hearth_unlimited_read", False))
