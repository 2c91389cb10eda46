"""Vitals settings: everything that varies between machines comes from the environment.

Defaults make `make demo` work with nothing set: an embedded PostgreSQL under ./var and
Celery tasks run in-process. Per-organization policy lives in the database, not here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from corsheaders.defaults import default_headers as cors_default_headers
from django.utils.csp import CSP

from vitals.embedded_db import embedded_database_url
from vitals.env import (
    database_config,
    env_bool,
    env_int,
    env_list,
    env_str,
    env_url,
    local_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)
# Without SECRET_KEY a random key is made once and kept in ./var (never in the repo).
SECRET_KEY = env_str("SECRET_KEY") or local_secret_key(BASE_DIR / "var" / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "vitals.tenancy",
    "ingestion",
    "health",
    "accounts_explorer",
    "settings_admin",
    "api",
    "axes",
    "corsheaders",
]

MIDDLEWARE = [
    # First: answers the browser SDKs' preflights on the tracking API (CORS_URLS_REGEX).
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "vitals.tenancy.middleware.TenantMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the login page's message.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "vitals.urls"
WSGI_APPLICATION = "vitals.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "vitals.tenancy.context_processors.tenancy",
            ],
        },
    },
]

DATABASE_URL = env_url("DATABASE_URL", ("postgres", "postgresql")) or embedded_database_url(
    BASE_DIR
)
DATABASES = {"default": database_config(DATABASE_URL)}
# Production: DATABASE_URL is the application's login role (owns nothing, no superuser, no
# BYPASSRLS; `manage.py create_app_login`) and DATABASE_OWNER_URL the owner, whose
# credentials migrate and flush use (vitals/tenancy/rls.py, owner_session). Unset: the
# DATABASE_URL user is the owner and steps down with SET ROLE (development, tests).
DATABASE_OWNER_URL = env_url("DATABASE_OWNER_URL", ("postgres", "postgresql"))
DATABASE_OWNER = database_config(DATABASE_OWNER_URL) if DATABASE_OWNER_URL else None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out username+address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Web security (docs/security.md) ---------------------------------------------------------
# HTTPS=1 when people reach Vitals over TLS, directly or through a TLS-terminating proxy:
# cookies become Secure, plain http is redirected and HSTS is sent. Off by default so that
# `make demo` and `make prod-smoke` work on plain http://127.0.0.1.
HTTPS = env_bool("HTTPS", default=False)
# BEHIND_PROXY=1 only behind a proxy that sets X-Forwarded-Proto and appends the client to
# X-Forwarded-For: without one in front, clients could forge both headers.
BEHIND_PROXY = env_bool("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=HTTPS)
# The container health check asks for http://localhost:8000/healthz.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
# Preloading commits the whole domain to HTTPS in browsers for months: the operator opts in.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=HTTPS)
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: pages carry the token in hx-headers and forms.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# A session ends when the browser closes, and at the latest SESSION_COOKIE_AGE after login.
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12, minimum=60)

# Content-Security-Policy: only our own (vendored) scripts, styles, images and fonts. No
# inline script or style runs unless it carries the request's nonce ({{ csp_nonce }});
# data: images are Bootstrap's inline SVG icons in its stylesheet.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT failed logins for one username from one
# address lock that pair out for LOGIN_COOLOFF_MINUTES; the login page says so (429).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "vitals.tenancy.login.login_username"
AXES_CLIENT_IP_CALLABLE = "vitals.tenancy.login.client_address"
AXES_LOCKOUT_CALLABLE = "vitals.tenancy.login.locked_out_response"

# Browser SDKs (analytics.js, RudderStack's JS SDK) post to the tracking API from the
# customer's own site: any origin may, without cookies (the write key authenticates), on
# the tracking paths only. Every other URL keeps the same-origin policy.
CORS_URLS_REGEX = r"^/(beacon/)?v1/"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("OPTIONS", "POST")
CORS_ALLOW_HEADERS = (*cors_default_headers, "anonymousid", "content-encoding")
CORS_EXPOSE_HEADERS = ("Retry-After",)
CORS_PREFLIGHT_MAX_AGE = 86400

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# Serve straight from the app dirs when collectstatic has not run (demo, tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = env_url("REDIS_URL", ("redis", "rediss"))
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
# Without Redis the tasks run in-process, so the demo needs no broker.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=REDIS_URL is None)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60, minimum=120)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Tasks must finish well inside the broker's visibility timeout or they are redelivered.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
CELERY_TIMEZONE = "UTC"

# Messages per minute per write key before the ingestion API answers 429.
INGEST_RATE_LIMIT_PER_MINUTE = env_int("INGEST_RATE_LIMIT_PER_MINUTE", 60_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vitals API",
    "DESCRIPTION": "Read-only account health: products, accounts with KPIs, drill-downs, "
    "portfolio summary and KPI history. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
