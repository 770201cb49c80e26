"""HTTP views of notifications."""

from flask import Blueprint

bp = Blueprint("notifications", __name__)
