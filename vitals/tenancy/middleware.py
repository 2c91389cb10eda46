"""Resolves /o/<org_slug>/[p/<product_key>/] to request.organization and request.product.

The organization always comes from the URL plus a membership check, never from a
preference stored on the user. Non-members and unknown slugs both get 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from vitals.tenancy.scope import TenantScope, _current_scope, _rls_bypass
from vitals.tenancy.selectors import membership_for, product_in_scope


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None  # type: ignore[attr-defined]
        request.product = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        token = _current_scope.set(None)
        bypass_token = _rls_bypass.set(None)
        try:
            return self.get_response(request)
        finally:
            _rls_bypass.reset(bypass_token)
            _current_scope.reset(token)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        org_slug = view_kwargs.get("org_slug")
        if org_slug is None:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_for(user=request.user, organization_slug=org_slug)
        if membership is None:
            raise Http404("No such organization.")
        organization = membership.organization
        product = None
        product_key = view_kwargs.get("product_key")
        if product_key is not None:
            product = product_in_scope(organization=organization, key=product_key)
            if product is None:
                raise Http404("No such product.")
        request.organization = organization  # type: ignore[attr-defined]
        request.product = product  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        _current_scope.set(TenantScope(organization=organization, product=product))
        return None
