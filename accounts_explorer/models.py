"""Saved views of the Accounts Explorer (issue 7): bookmarks, private or shared."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from vitals.tenancy.models import Product, TenantModel


class Bookmark(TenantModel):
    """A named explorer view. `state` is ExplorerState.as_json(); a frozen bookmark also
    keeps the ids (ingestion_account.id) of the accounts its view matched when saved."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="bookmarks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks"
    )
    name = models.CharField(max_length=120)
    shared = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    state = models.JSONField(default=dict)
    snapshot_account_ids = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        ordering = ["name", "id"]
        constraints = [
            # One default view per person and product.
            models.UniqueConstraint(
                fields=["product", "owner"],
                condition=models.Q(is_default=True),
                name="uniq_default_bookmark",
            )
        ]
        indexes = [models.Index(fields=["product", "owner"], name="bookmark_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_snapshot(self) -> bool:
        return self.snapshot_account_ids is not None
