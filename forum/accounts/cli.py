"""``flask users create`` and ``flask users set-role``."""

from flask.cli import AppGroup

users_cli = AppGroup("users", help="Manage accounts and roles.")
