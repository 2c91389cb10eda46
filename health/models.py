"""The feature catalog and health settings (per product), the rollups the engine writes,
and the record of each computation run."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from vitals.tenancy.models import Organization, Product, TenantModel

MAX_CORE_ITEMS = 100


class Module(TenantModel):
    """A module of the product's feature catalog; paths nest by '/' (Reports/Exports)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="modules")
    path = models.CharField(max_length=500)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(TenantModel.Meta):
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["product", "path"], name="uniq_module_path")]

    def __str__(self) -> str:
        return self.path


class Feature(TenantModel):
    """A feature: events matching any of its rules count as using it.

    rules: [{"event": "Report Exported"}, {"page": "/reports/*"}]
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="features")
    key = models.CharField(max_length=200)
    name = models.CharField(max_length=300)
    module_path = models.CharField(max_length=500, blank=True)
    labels = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    rules = models.JSONField(default=list)
    position = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(TenantModel.Meta):
        ordering = ["position", "key"]
        constraints = [models.UniqueConstraint(fields=["product", "key"], name="uniq_feature_key")]

    def __str__(self) -> str:
        return self.key


class StickinessMode(models.TextChoices):
    DAU = "dau", "DAU / MAU"
    WAU = "wau", "WAU / MAU"


DEFAULT_THRESHOLDS = {
    "core_feature_usage": (30.0, 60.0),
    "active_user_coverage": (40.0, 70.0),
    "stickiness": (15.0, 30.0),
    "product_score": (25.0, 45.0),
}


class HealthSettings(TenantModel):
    """What healthy means for a product: core items, stickiness mode, band thresholds.

    core_items: [{"feature": key} | {"module": path} | {"label": name}], at most 100.
    """

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, related_name="health_settings"
    )
    core_items = models.JSONField(default=list, blank=True)
    stickiness_mode = models.CharField(
        max_length=3, choices=StickinessMode.choices, default=StickinessMode.DAU
    )
    cfu_lower = models.FloatField(default=30.0)
    cfu_upper = models.FloatField(default=60.0)
    coverage_lower = models.FloatField(default=40.0)
    coverage_upper = models.FloatField(default=70.0)
    stickiness_lower = models.FloatField(default=15.0)
    stickiness_upper = models.FloatField(default=30.0)
    score_lower = models.FloatField(default=25.0)
    score_upper = models.FloatField(default=45.0)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(TenantModel.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    cfu_lower__gte=0, cfu_lower__lt=models.F("cfu_upper"), cfu_upper__lte=100
                ),
                name="cfu_thresholds_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    coverage_lower__gte=0,
                    coverage_lower__lt=models.F("coverage_upper"),
                    coverage_upper__lte=100,
                ),
                name="coverage_thresholds_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    stickiness_lower__gte=0,
                    stickiness_lower__lt=models.F("stickiness_upper"),
                    stickiness_upper__lte=100,
                ),
                name="stickiness_thresholds_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    score_lower__gte=0,
                    score_lower__lt=models.F("score_upper"),
                    score_upper__lte=100,
                ),
                name="score_thresholds_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"health settings of product {self.product_id}"


class HealthRun(TenantModel):
    """One computation of a product's health as of a day: what ran, how it ended."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="health_runs")
    as_of = models.DateField()
    full = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta(TenantModel.Meta):
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["product", "-queued_at"], name="healthrun_recent")]


class AccountHealth(TenantModel):
    """Per account and as-of day: the window KPIs for W (last 30 days) and P (prior 30),
    the lifetime columns and the bands. One row per as-of day is kept as history.

    Only the engine writes it, 10,000s of rows a night: no database foreign keys (each
    inserted row would lock its account, product and organization rows at commit; Django
    still cascades deletes) and no single-column indexes the explorer never uses."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, db_constraint=False, db_index=False
    )
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, db_constraint=False, db_index=False
    )
    as_of = models.DateField()
    account = models.ForeignKey("ingestion.Account", on_delete=models.CASCADE, db_constraint=False)

    active_users = models.IntegerField()
    active_users_prev = models.IntegerField()
    avg_dau = models.FloatField()
    avg_dau_prev = models.FloatField()
    avg_wau = models.FloatField()
    avg_wau_prev = models.FloatField()
    stickiness = models.FloatField(null=True)
    stickiness_prev = models.FloatField(null=True)
    core_feature_usage = models.FloatField(null=True)
    core_feature_usage_prev = models.FloatField(null=True)
    active_user_coverage = models.FloatField(null=True)
    active_user_coverage_prev = models.FloatField(null=True)
    product_score = models.FloatField(null=True)
    product_score_prev = models.FloatField(null=True)
    health = models.CharField(max_length=16)
    health_prev = models.CharField(max_length=16)
    cfu_band = models.CharField(max_length=16, blank=True)
    coverage_band = models.CharField(max_length=16, blank=True)
    stickiness_band = models.CharField(max_length=16, blank=True)
    users_at_risk = models.IntegerField()
    users_at_risk_prev = models.IntegerField()
    visits = models.IntegerField()
    visits_prev = models.IntegerField()
    avg_session_seconds = models.FloatField(null=True)
    avg_session_seconds_prev = models.FloatField(null=True)
    users_lifetime = models.IntegerField()
    visits_lifetime = models.IntegerField()
    product_first_seen = models.DateTimeField(null=True)
    product_last_seen = models.DateTimeField(null=True)
    last_seen = models.DateTimeField(null=True)
    created_date = models.DateField(null=True)

    class Meta(TenantModel.Meta):
        constraints = [
            # The explorer's filter columns ride along (as in its sort indexes): a search or
            # trait filter reads its matches' rows by key without the heap (health/0014).
            models.UniqueConstraint(
                fields=["product", "as_of", "account"],
                include=["organization", "health", "product_last_seen"],
                name="uniq_account_health",
            )
        ]


class PortfolioHealth(TenantModel):
    """The Summary and Health widgets' numbers for a product and as-of day."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    as_of = models.DateField()
    summary = models.JSONField()
    computed_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["product", "as_of"], name="uniq_portfolio_health")
        ]


class RollupState(TenantModel):
    """Where a product's incremental rollups stand: sessions are built from events before
    `sessions_cutoff` (the end of the as-of day of the last run); the window states hold
    the sums of `state_as_of`, computed with the core items and thresholds that
    `state_signature` fingerprints (health/engine/state.py)."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="+")
    sessions_cutoff = models.DateTimeField(null=True, blank=True)
    state_as_of = models.DateField(null=True, blank=True)
    state_signature = models.CharField(max_length=64, blank=True)
    # Daily rows from this day on carry their events per event key (drill-down features).
    keys_from = models.DateField(null=True, blank=True)
    # The catalog the states' usage arrays are by: feature keys and module paths, in order.
    usage_features = ArrayField(models.CharField(max_length=500), default=list, blank=True)
    usage_modules = ArrayField(models.CharField(max_length=500), default=list, blank=True)

    def __str__(self) -> str:
        return f"rollup state of product {self.product_id}"


class AccountState(models.Model):
    """Per account, the window sums of the newest computed as-of day: the engine's
    health_account_state (health/engine/state.py). Only the usage filters read it through
    the ORM, in subqueries correlated with tenant-scoped account rows."""

    pk = models.CompositePrimaryKey("product_id", "account_pk")
    product_id = models.BigIntegerField()
    account_pk = models.BigIntegerField()
    # The latest day in W each feature / module was used, by position in
    # RollupState.usage_features / usage_modules (days before W mean "not in W").
    feature_last = ArrayField(models.DateField(null=True))
    module_last = ArrayField(models.DateField(null=True))

    class Meta:
        managed = False
        db_table = "health_account_state"

    def __str__(self) -> str:
        return f"{self.product_id}:{self.account_pk}"
