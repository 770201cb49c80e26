"""Settings an operator must get right, and how Hearth says so when they are missing:
one clear line, from create_app, the flask command and gunicorn alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forum import create_app
from forum.config import BASE_URL_MISSING, DEVELOPMENT_BASE_URL, ConfigError

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "k" * 32


@pytest.fixture(autouse=True)
def _no_operator_settings(monkeypatch):
    """These tests say every setting themselves; none may leak in from the shell."""
    for name in list(os.environ):
        if name.startswith("HEARTH_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_production_refuses_to_start_without_a_base_url():
    with pytest.raises(ConfigError) as caught:
        create_app({"ENV": "production", "SECRET_KEY": SECRET})
    assert str(caught.value) == BASE_URL_MISSING
    assert "HEARTH_BASE_URL" in str(caught.value)


def test_production_takes_the_base_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("HEARTH_BASE_URL", "https://reflect.example.org")
    app = create_app({"ENV": "production", "SECRET_KEY": SECRET})
    assert app.config["BASE_URL"] == "https://reflect.example.org"


def test_an_empty_base_url_counts_as_missing(monkeypatch):
    monkeypatch.setenv("HEARTH_BASE_URL", "")
    with pytest.raises(ConfigError, match="Set HEARTH_BASE_URL"):
        create_app({"ENV": "production", "SECRET_KEY": SECRET})


@pytest.mark.parametrize("env", ["development", "testing"])
def test_development_and_tests_keep_the_local_default(env):
    app = create_app({"ENV": env, "SECRET_KEY": SECRET})
    assert app.config["BASE_URL"] == DEVELOPMENT_BASE_URL


@pytest.mark.parametrize(
    "base_url",
    [
        "reflect.example.org",
        "/forum",
        "ftp://reflect.example.org",
        "https://",
        "https://x.org/?a=1",
    ],
)
def test_a_base_url_that_isnt_an_absolute_http_address_is_refused(base_url):
    for env in ("production", "development"):
        with pytest.raises(ConfigError, match="absolute http"):
            create_app({"ENV": env, "SECRET_KEY": SECRET, "BASE_URL": base_url})


def test_a_base_url_under_a_path_is_fine():
    app = create_app(
        {"ENV": "production", "SECRET_KEY": SECRET, "BASE_URL": "https://x.org/hearth"}
    )
    assert app.config["BASE_URL"] == "https://x.org/hearth"


def test_a_missing_secret_key_is_a_config_error():
    with pytest.raises(ConfigError, match="HEARTH_SECRET_KEY"):
        create_app({"ENV": "production", "BASE_URL": "https://x.org"})


@pytest.mark.parametrize("hops", [-1, "one", True, 1.5])
def test_trusted_proxy_hops_must_be_a_count(hops):
    with pytest.raises(ConfigError, match="HEARTH_TRUSTED_PROXY_HOPS"):
        create_app({"ENV": "testing", "SECRET_KEY": SECRET, "TRUSTED_PROXY_HOPS": hops})


def test_trusted_proxy_hops_from_the_environment(monkeypatch):
    from werkzeug.middleware.proxy_fix import ProxyFix

    monkeypatch.setenv("HEARTH_TRUSTED_PROXY_HOPS", "2")
    app = create_app({"ENV": "testing", "SECRET_KEY": SECRET})
    assert isinstance(app.wsgi_app, ProxyFix)
    assert (app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host) == (2, 2, 0)
    monkeypatch.delenv("HEARTH_TRUSTED_PROXY_HOPS")
    # By default no header is trusted, so nothing rewrites the client's address.
    assert not isinstance(create_app({"ENV": "testing", "SECRET_KEY": SECRET}).wsgi_app, ProxyFix)


def test_a_redis_rate_limit_store_starts_and_keeps_waits_short():
    # Creating the app needs no Redis: the client library is installed and connects lazily.
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": SECRET,
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",
        }
    )
    options = app.config["RATELIMIT_STORAGE_OPTIONS"]
    assert options["socket_connect_timeout"] <= 5 and options["socket_timeout"] <= 5
    assert app.config["RATELIMIT_SWALLOW_ERRORS"] is True
    assert app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True


# --- the commands an operator runs ------------------------------------------------------


def _clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTH_", "FLASK_", "PYTHON"))}
    env.pop("DATABASE_URL", None)
    env.update(settings)
    return env


def _run(args: list[str], **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, env=_clean_env(**settings), capture_output=True, text=True, timeout=120
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", [["routes"], ["db", "upgrade"]])
def test_flask_command_without_settings_says_what_is_missing_in_one_line(command):
    result = _run([str(BIN / "flask"), "--app", "wsgi", *command])
    assert result.returncode != 0
    line = _one_line(result.stderr)
    assert line.startswith("Hearth can't start: No secret key: set HEARTH_SECRET_KEY")


def test_flask_command_in_production_without_a_base_url_says_so_in_one_line():
    result = _run([str(BIN / "flask"), "--app", "wsgi", "routes"], HEARTH_SECRET_KEY=SECRET)
    assert result.returncode != 0
    assert _one_line(result.stderr) == f"Hearth can't start: {BASE_URL_MISSING}"


def test_gunicorn_without_settings_says_so_and_stops():
    result = _run([str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", "--workers", "1", "wsgi:app"])
    # The master stops ("App failed to load") instead of restarting the worker forever.
    assert result.returncode != 0
    assert "Hearth can't start: No secret key: set HEARTH_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("Hearth can't start") == 1
