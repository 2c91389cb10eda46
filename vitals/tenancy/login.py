"""Login throttling hooks for django-axes (settings AXES_*_CALLABLE): which username and
which client address a failed login counts against, and the page a locked-out pair sees."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from vitals.tenancy.forms import EmailLoginForm

TOO_MANY_REQUESTS = 429


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The email as the login form cleans it, so `Alice@X` and `alice@x` count together."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username", "")
    return str(raw).strip().lower()


def client_address(request: HttpRequest) -> str:
    """The address failed logins are counted against. Behind a TLS-terminating proxy the
    peer is the proxy, so the client is the last X-Forwarded-For entry (the one our proxy
    appended; anything left of it came from the client and may be forged)."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR", "")


def locked_out_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The login page again, with the cool-off spelled out, answering 429."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    form = EmailLoginForm(request, initial={"username": login_username(request, credentials)})
    context = {
        "form": form,
        "next": request.POST.get("next", ""),
        "locked_out_minutes": minutes,
    }
    return render(request, "registration/login.html", context, status=TOO_MANY_REQUESTS)
