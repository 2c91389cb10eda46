"""The conformance fixture `basic` ingested and computed, with alice a member of its
organization: the drill-down must show the fixture's expected numbers."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from tests.health.helpers import command, compute, fixture, ingest_file
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.services import membership_set

AS_OF = "2026-10-31"
# Earlier as-of days, so the account has a history for the 90-day trend.
HISTORY = ["2026-09-15", "2026-10-15"]


@dataclass
class Basic:
    organization: Organization
    product: Product
    accounts: dict[str, dict[str, str]]  # expected_accounts.csv by account id
    drilldown: dict[str, Any]  # expected_drilldown.json

    def account_url(self, account_id: str) -> str:
        return f"/o/basic/p/app/accounts/{account_id}/"

    def user_url(self, user_id: str) -> str:
        return f"/o/basic/p/app/users/{user_id}/"


@pytest.fixture
def basic(db) -> Basic:
    source = fixture("basic")
    command("import_config", str(source / "config.json"))
    ingest_file(source / "events.jsonl", "basic", "app")
    for day in [*HISTORY, AS_OF]:
        compute("basic", "app", day)
    organization = Organization.objects.get(slug="basic")
    product = Product.dangerously_unscoped.get(organization=organization, key="app")
    with (source / "expected_accounts.csv").open(newline="") as handle:
        accounts = {row["account_id"]: row for row in csv.DictReader(handle)}
    drilldown = json.loads((source / "expected_drilldown.json").read_text())
    return Basic(organization, product, accounts, drilldown)


@pytest.fixture
def basic_client(basic, alice) -> Client:
    """alice (admin of Acme) is also a member of the fixture's organization."""
    membership_set(organization=basic.organization, user=alice, role="member")
    client = Client()
    client.force_login(alice)
    return client


def attribute_values(html: str, name: str, within: str | None = None) -> list[str]:
    """The values of a data attribute in document order, optionally inside one section
    (the element carrying data-testid=within, up to its closing </section>)."""
    if within is not None:
        start = html.index(f'data-testid="{within}"')
        html = html[start : html.index("</section>", start)]
    return re.findall(rf'{name}="([^"]*)"', html)


def figure(html: str, label: str) -> str:
    match = re.search(rf'data-figure="{re.escape(label)}">([^<]*)<', html)
    assert match, f"no figure {label!r}"
    return match.group(1)


def kpi_value(html: str, key: str) -> str:
    start = html.index(f'data-kpi="{key}"')
    match = re.search(r'data-testid="kpi-value">([^<]*)<', html[start:])
    assert match
    return match.group(1)
