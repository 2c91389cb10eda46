"""JSON shapes of the API (SPEC section 9: percentages unrounded floats in 0..100, ISO
dates, UTC timestamps with Z, nulls as null). Serializers only shape; they read nothing."""

from __future__ import annotations

from rest_framework import serializers

from health.models import AccountHealth, PortfolioHealth
from vitals.tenancy.models import Product

KPI_FIELDS = [
    "active_users",
    "active_users_prev",
    "avg_dau",
    "avg_dau_prev",
    "avg_wau",
    "avg_wau_prev",
    "stickiness",
    "stickiness_prev",
    "core_feature_usage",
    "core_feature_usage_prev",
    "active_user_coverage",
    "active_user_coverage_prev",
    "product_score",
    "product_score_prev",
    "health",
    "health_prev",
    "cfu_band",
    "coverage_band",
    "stickiness_band",
    "users_at_risk",
    "users_at_risk_prev",
    "visits",
    "visits_prev",
    "avg_session_seconds",
    "avg_session_seconds_prev",
    "users_lifetime",
    "visits_lifetime",
    "product_first_seen",
    "product_last_seen",
    "last_seen",
    "created_date",
]


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["key", "name", "created_at"]


class AccountHealthSerializer(serializers.ModelSerializer):
    account_id = serializers.CharField(source="account.external_id")
    name = serializers.CharField(source="account.name")
    traits = serializers.JSONField(source="account.traits")

    class Meta:
        model = AccountHealth
        fields = ["account_id", "name", "traits", "as_of", *KPI_FIELDS]


class AccountDetailSerializer(AccountHealthSerializer):
    # SPEC section 8 lists, read from the rollups by api.selectors.account_health_get.
    drilldown = serializers.JSONField(read_only=True)

    class Meta(AccountHealthSerializer.Meta):
        fields = [*AccountHealthSerializer.Meta.fields, "drilldown"]


class AccountHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountHealth
        fields = ["as_of", *KPI_FIELDS]


class PortfolioSerializer(serializers.ModelSerializer):
    class Meta:
        model = PortfolioHealth
        fields = ["as_of", "computed_at", "summary"]
