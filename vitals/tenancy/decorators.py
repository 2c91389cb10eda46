from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For views under /o/<org>/: members who are not admins get 403."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if membership is None:
            # The tenant middleware did not run for this URL: a wiring mistake, fail closed.
            raise PermissionDenied("admin view outside an organization URL")
        if not membership.is_admin:
            raise PermissionDenied("Only organization admins can do this.")
        return view(request, *args, **kwargs)

    return wrapper
