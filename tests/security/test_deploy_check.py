"""`manage.py check --deploy` with production settings from the environment reports
nothing; with the demo's plain-http defaults it names what production must switch on;
bad values stop start-up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

REPO = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "vitals.example.com",
    "HTTPS": "1",
    "BEHIND_PROXY": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "CSRF_TRUSTED_ORIGINS": "https://vitals.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        # Start from what CI has, minus every knob this test sets or relies on defaulting.
        if key
        not in {
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "HTTPS",
            "BEHIND_PROXY",
            "SECURE_SSL_REDIRECT",
            "SECURE_HSTS_SECONDS",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS",
            "SECURE_HSTS_PRELOAD",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            # The browser tests set this for Playwright in this process; never in production.
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    # The database the suite uses: without one, settings would start the embedded server.
    environment["DATABASE_URL"] = settings.DATABASE_URL
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deploy_check_with_production_settings():
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_it_names_what_production_needs_on_plain_http_defaults():
    plain = {key: PRODUCTION[key] for key in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")}
    done = manage("check", "--deploy", env=plain)
    report = done.stdout + done.stderr
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in report, report


def test_it_flags_a_short_secret_key_and_debug():
    done = manage("check", "--deploy", env={**PRODUCTION, "SECRET_KEY": "short", "DEBUG": "1"})
    report = done.stdout + done.stderr
    assert "security.W009" in report and "security.W018" in report, report


def test_it_refuses_to_start_with_a_bad_value():
    for name, value in (
        ("HTTPS", "maybe"),
        ("SECURE_HSTS_SECONDS", "-1"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("LOGIN_COOLOFF_MINUTES", "soon"),
    ):
        done = manage("check", env={**PRODUCTION, name: value})
        assert done.returncode != 0, name
        assert "ImproperlyConfigured" in done.stderr and name in done.stderr, done.stderr[-500:]
