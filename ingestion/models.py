"""What ingestion stores: messages (partitioned by event time), end users, accounts, the
membership history SPEC section 3 needs, the dedup ledger, the quarantine and the days
each insert touched (so the health engine recomputes only those)."""

from __future__ import annotations

from django.db import models

from vitals.tenancy.models import Product, TenantModel, WriteKey


class EndUser(TenantModel):
    """A person using the customer's product, by the userId it sends (organization-wide)."""

    external_id = models.CharField(max_length=512)
    traits = models.JSONField(default=dict)
    first_seen_at = models.DateTimeField()

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], name="uniq_enduser")
        ]

    def __str__(self) -> str:
        return self.external_id


class Account(TenantModel):
    """A customer company, by the groupId the customer's product sends (organization-wide)."""

    external_id = models.CharField(max_length=512)
    name = models.CharField(max_length=512, blank=True)
    # Traits merged in event-time order: the latest group call naming a trait wins.
    traits = models.JSONField(default=dict)
    # Event time of the first message that names the account.
    first_seen_at = models.DateTimeField()

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], name="uniq_account")
        ]

    def __str__(self) -> str:
        return self.name or self.external_id


class AccountMembership(TenantModel):
    """One `group` call (or `identify` with traits.accountId): user joined account at time."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    user = models.ForeignKey(EndUser, on_delete=models.CASCADE)
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    event_time = models.DateTimeField()
    # Messages at the same instant are ordered by arrival.
    event_id = models.BigIntegerField()

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["user", "event_time"], name="membership_user_time")]


class EventKey(TenantModel):
    """Event names and page paths interned per product: features are matched on these."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    kind = models.CharField(max_length=8)  # "event" (track) or "page" (page/screen path)
    name = models.CharField(max_length=1024)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["product", "kind", "name"], name="uniq_event_key")
        ]


class SeenMessage(models.Model):
    """The dedup ledger: a messageId is accepted once per product, across all partitions."""

    pk = models.CompositePrimaryKey("product_id", "message_id")
    organization_id = models.BigIntegerField()
    product_id = models.BigIntegerField()
    message_id = models.CharField(max_length=512)

    def __str__(self) -> str:
        return f"{self.product_id}:{self.message_id}"


class RejectedMessage(TenantModel):
    """The quarantine: every message that failed validation, with its raw payload."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    write_key = models.ForeignKey(WriteKey, null=True, blank=True, on_delete=models.SET_NULL)
    received_at = models.DateTimeField()
    source = models.CharField(max_length=16)  # "api" or "file"
    line_number = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    payload = models.TextField()

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["product", "-received_at"], name="rejected_recent")]


class TouchedDay(TenantModel):
    """A day (organization time zone) whose rollups are stale since the last computation."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    day = models.DateField()

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["product", "day"], name="uniq_touched_day")]


class IngestCounter(TenantModel):
    """Per product and receive day: messages accepted, rejected and dropped as duplicates."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    day = models.DateField()
    accepted = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    duplicate = models.BigIntegerField(default=0)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["product", "day"], name="uniq_ingest_counter")
        ]


class Event(TenantModel):
    """Every accepted message. Range-partitioned by event_time (monthly) in SQL, see the
    migration; Django only reads it. Activity rows carry the attributed account."""

    id = models.BigIntegerField(primary_key=True)
    product = models.ForeignKey(Product, on_delete=models.DO_NOTHING, db_constraint=False)
    event_time = models.DateTimeField()
    received_at = models.DateTimeField()
    type = models.SmallIntegerField()
    message_id = models.CharField(max_length=512)
    user_pk = models.BigIntegerField(null=True)
    # The table is defined in SQL (migration 0002), where these columns are nullable.
    anonymous_id = models.CharField(max_length=512, null=True)  # noqa: DJ001
    account_pk = models.BigIntegerField(null=True)
    context_account_pk = models.BigIntegerField(null=True)
    event_key_id = models.IntegerField(null=True)
    warning = models.TextField(null=True)  # noqa: DJ001
    raw = models.JSONField()

    class Meta(TenantModel.Meta):
        managed = False
        db_table = "ingestion_event"


class TraitsChange(TenantModel):
    """Traits as one message set them; an account's or user's traits are these merged in
    event-time order (the latest message naming a trait wins, the others are kept)."""

    SUBJECT_ACCOUNT = "account"
    SUBJECT_USER = "user"

    subject = models.CharField(max_length=8)
    subject_pk = models.BigIntegerField()
    event_time = models.DateTimeField()
    event_id = models.BigIntegerField()
    traits = models.JSONField()

    class Meta(TenantModel.Meta):
        indexes = [
            models.Index(fields=["subject", "subject_pk", "event_time"], name="traits_subject")
        ]
