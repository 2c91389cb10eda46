"""The read-only REST API: thin views over api/selectors.py.

Every view derives from TokenScopedView, which authenticates the bearer token and enters
that token's organization scope for the rest of the request (reset when it ends). As in
PostHog, subclasses may not override get_queryset/get_object: they implement
safely_get_queryset/safely_get_object, which run inside the scope, and the fail-closed
tenant managers make anything else of another organization a 404.
"""

from __future__ import annotations

import contextlib
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, pagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from accounts_explorer.filters import QUICK_FILTERS, AccountHealthFilter
from api import selectors
from api.authentication import ApiTokenAuthentication
from api.models import ApiToken
from api.serializers import (
    AccountDetailSerializer,
    AccountHealthSerializer,
    AccountHistorySerializer,
    PortfolioSerializer,
    ProductSerializer,
)
from vitals.tenancy.scope import tenant_scope


class ApiPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class TokenScopedView(generics.GenericAPIView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAuthenticated]
    pagination_class = ApiPagination
    http_method_names = ["get", "head", "options"]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("get_queryset", "get_object"):
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} overrides {name}; implement safely_{name}")

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with contextlib.ExitStack() as scope:
            self._scope = scope
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and permissions
        token = request.auth
        if not isinstance(token, ApiToken):  # fail closed on a wiring mistake
            raise PermissionError("API view reached without an API token")
        self._scope.enter_context(tenant_scope(token.organization))

    def get_queryset(self) -> Any:
        return self.safely_get_queryset()

    def get_object(self) -> Any:
        obj = self.safely_get_object()
        self.check_object_permissions(self.request, obj)
        return obj

    def safely_get_queryset(self) -> Any:
        raise NotImplementedError

    def safely_get_object(self) -> Any:
        raise NotImplementedError

    def product(self) -> Any:
        return selectors.product_get(key=self.kwargs["product_key"])


class ProductList(TokenScopedView, generics.ListAPIView):
    """The products of the token's organization."""

    serializer_class = ProductSerializer

    def safely_get_queryset(self) -> Any:
        return selectors.product_list()


class ProductDetail(TokenScopedView, generics.RetrieveAPIView):
    serializer_class = ProductSerializer

    def safely_get_object(self) -> Any:
        return self.product()


def _filter_parameters() -> list[OpenApiParameter]:
    """The explorer's FilterSet, documented from the FilterSet itself, plus the quick
    filter and the sort the explorer's URL carries."""
    parameters = []
    for name, field in AccountHealthFilter.base_filters.items():
        choices = field.extra.get("choices")
        parameters.append(
            OpenApiParameter(
                name,
                OpenApiTypes.STR,
                description=str(field.label or name),
                enum=[value for value, _ in choices] if choices else None,
            )
        )
    return [
        *parameters,
        OpenApiParameter(
            "health", OpenApiTypes.STR, enum=list(QUICK_FILTERS), description="quick filter"
        ),
        OpenApiParameter(
            "sort",
            OpenApiTypes.STR,
            description="an explorer column key, '-' first for descending (default -active_users)",
        ),
    ]


@extend_schema(parameters=_filter_parameters())
class AccountList(TokenScopedView, generics.ListAPIView):
    """The product's accounts with their KPIs as of the latest computed day, filtered and
    sorted exactly as the Accounts Explorer does for the same query string."""

    serializer_class = AccountHealthSerializer

    def safely_get_queryset(self) -> Any:
        return selectors.account_health_list(
            organization=self.request.auth.organization,
            product=self.product(),
            query=self.request.query_params,
        )


class AccountDetail(TokenScopedView, generics.RetrieveAPIView):
    """One account's KPIs as of the latest computed day, with its drill-down lists."""

    serializer_class = AccountDetailSerializer

    def safely_get_object(self) -> Any:
        return selectors.account_health_get(
            product=self.product(), account_id=self.kwargs["account_id"]
        )


class AccountHistory(TokenScopedView, generics.ListAPIView):
    """The account's KPIs on every computed as-of day, newest first."""

    serializer_class = AccountHistorySerializer

    def safely_get_queryset(self) -> Any:
        return selectors.account_health_history(
            product=self.product(), account_id=self.kwargs["account_id"]
        )


class Portfolio(TokenScopedView, generics.RetrieveAPIView):
    """The Summary and Health widgets' numbers as of the latest computed day."""

    serializer_class = PortfolioSerializer

    def safely_get_object(self) -> Any:
        return selectors.portfolio_get(product=self.product())
