"""Thread pages: reading, posting, replying, editing, deleting."""

from flask import Blueprint

bp = Blueprint("threads", __name__)
