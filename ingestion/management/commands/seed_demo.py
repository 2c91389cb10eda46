"""`seed_demo`: the demo organization, its logins and a few months of realistic events.

Everything goes through `messages_ingest`, the path real traffic takes, then
`health_compute` so the explorer has numbers on first load.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.utils import timezone

from health.catalog import config_import
from health.services import health_compute
from ingestion.demo_data import MOBILE_KEY, ORG_SLUG, WEB_KEY, catalog_config, demo_messages
from ingestion.services import SOURCE_FILE, IngestResult, RawItem, messages_ingest
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import membership_set, user_get_or_create

DEMO_PASSWORD = "vitals-demo"
LOGINS = (("admin@demo.test", "admin"), ("member@demo.test", "member"))
CHUNK = 5000
# Tables a fresh database has no planner statistics for yet. Autovacuum analyzes them
# eventually, but a seed fills them within seconds: without statistics the planner takes
# them for a few rows and picks nested loops that turn a 2 s statement into minutes.
INGEST_TABLES = (
    "ingestion_event",
    "ingestion_enduser",
    "ingestion_account",
    "ingestion_accountmembership",
    "ingestion_seenmessage",
    "ingestion_eventkey",
    "ingestion_traitschange",
)
ANALYZE_AFTER_CHUNKS = {1, 4, 16, 64, 256}  # statistics stay within 4x of the truth


def _analyze(tables: tuple[str, ...]) -> None:
    # ANALYZE needs the tables' owner: a SECURITY DEFINER function (tenancy migration 0002).
    with connection.cursor() as cursor:
        cursor.execute("SELECT vitals_analyze(%s)", [list(tables)])


class Command(BaseCommand):
    help = "Create the demo organization with logins, a feature catalog and generated events."

    def add_arguments(self, parser: CommandParser) -> None:
        # Sized so `make demo` serves within its budget: about 150,000 events in well under
        # a minute. `--accounts 500 --days 120` makes about a million (benchmarks).
        parser.add_argument("--accounts", type=int, default=120)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--users-per-account-max", type=int, default=400)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--org-slug", default=ORG_SLUG)
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if the demo organization exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["org_slug"]
        if options["if_empty"] and Organization.objects.filter(slug=slug).exists():
            self.stdout.write(f"Demo organization {slug!r} already exists.")
            self._print_logins()
            return

        started = time.monotonic()
        products = {}
        for key in (WEB_KEY, MOBILE_KEY):
            config = catalog_config(product_key=key)
            config["organization"]["slug"] = slug
            products[key] = config_import(data=config)
        organization = products[WEB_KEY].organization
        for email, role in LOGINS:
            user = user_get_or_create(email=email, password=DEMO_PASSWORD)
            membership_set(organization=organization, user=user, role=role)

        totals = self._ingest(organization, products, options)
        self.stdout.write(
            f"Ingested {totals.accepted} events ({totals.duplicate} duplicates, "
            f"{totals.rejected} rejected) in {time.monotonic() - started:.1f}s."
        )

        _analyze(INGEST_TABLES)
        yesterday = timezone.now().astimezone(organization.tzinfo).date() - timedelta(days=1)
        for product in products.values():
            with tenant_scope(organization, product):
                health_compute(product=product, as_of=yesterday, full=True)
        self.stdout.write(f"Health computed as of {yesterday} ({time.monotonic() - started:.1f}s).")
        self._print_logins()

    def _ingest(
        self, organization: Organization, products: dict[str, Product], options: dict[str, Any]
    ) -> IngestResult:
        totals = IngestResult()
        received_at = timezone.now()
        buffers: dict[str, list[RawItem]] = {key: [] for key in products}
        flushed = [0]

        def flush(key: str) -> None:
            with tenant_scope(organization, products[key]):
                result = messages_ingest(
                    product=products[key],
                    items=buffers[key],
                    received_at=received_at,
                    source=SOURCE_FILE,
                )
            # Keep the counts only: outcomes of a million messages are not worth the memory.
            totals.accepted += result.accepted
            totals.duplicate += result.duplicate
            totals.rejected += result.rejected
            buffers[key] = []
            flushed[0] += 1
            if flushed[0] in ANALYZE_AFTER_CHUNKS:
                _analyze(INGEST_TABLES)

        messages = demo_messages(
            accounts=options["accounts"],
            days=options["days"],
            users_per_account_max=options["users_per_account_max"],
            seed=options["seed"],
            now=received_at,
        )
        for index, (key, message) in enumerate(messages):
            buffers[key].append(RawItem(index=index, message=message))
            if len(buffers[key]) >= CHUNK:
                flush(key)
        for key, buffer in buffers.items():
            if buffer:
                flush(key)
        return totals

    def _print_logins(self) -> None:
        self.stdout.write("Log in with:")
        for email, role in LOGINS:
            self.stdout.write(f"  {email} / {DEMO_PASSWORD} ({role})")
