"""/api/v1/: the read-only REST API. Account ids are the customer's own strings and may
hold slashes, hence <path:...> (the history route is tried first)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from api import views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("products/", views.ProductList.as_view(), name="api_products"),
    path("products/<slug:product_key>/", views.ProductDetail.as_view(), name="api_product"),
    path(
        "products/<slug:product_key>/portfolio/",
        views.Portfolio.as_view(),
        name="api_portfolio",
    ),
    path(
        "products/<slug:product_key>/accounts/",
        views.AccountList.as_view(),
        name="api_accounts",
    ),
    path(
        "products/<slug:product_key>/accounts/<path:account_id>/history/",
        views.AccountHistory.as_view(),
        name="api_account_history",
    ),
    path(
        "products/<slug:product_key>/accounts/<path:account_id>/",
        views.AccountDetail.as_view(),
        name="api_account",
    ),
]
