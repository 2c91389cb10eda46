"""The audit log of the admin pages: who changed what, when, with the values before and after."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from vitals.tenancy.models import Product, TenantModel


class AuditEntry(TenantModel):
    """One change made by an admin. `before`/`after` are JSON snapshots of what changed
    (null when the target did not exist before or does not exist after)."""

    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=500)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_recent")]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
