"""Sign-up, login, password and email pages."""

from flask import Blueprint

bp = Blueprint("accounts", __name__, url_prefix="/account")
