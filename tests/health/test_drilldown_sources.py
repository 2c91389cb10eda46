"""The drill-down's users come from the engine's pair state when it is of the as-of day
(a large account's years of daily rows are not re-read per page view), else from every
daily row: both give the same lists, for every conformance fixture and after the state
moved forward day by day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from health.models import AccountHealth, RollupState
from health.selectors import drilldown_lists
from tests.health.helpers import command, compute, fixture, fixture_config, ingest_file
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope

pytestmark = pytest.mark.django_db


def _computed(name: str, days: list[str]) -> tuple[Product, date]:
    config = fixture_config(name)
    org, key = config["organization"]["slug"], config["product"]["key"]
    command("import_config", str(fixture(name) / "config.json"))
    ingest_file(fixture(name) / "events.jsonl", org, key)
    for day in days:
        compute(org, key, day)
    organization = Organization.objects.get(slug=org)
    return Product.dangerously_unscoped.get(organization=organization, key=key), date.fromisoformat(
        days[-1]
    )


def _both(product: Product, as_of: date) -> tuple[dict, dict]:
    with tenant_scope(product.organization, product):
        pks = list(
            AccountHealth.objects.filter(product=product, as_of=as_of).values_list(
                "account_id", flat=True
            )
        )
        assert pks
        state = drilldown_lists(product=product, as_of=as_of, account_pks=pks)
        days = drilldown_lists(product=product, as_of=as_of, account_pks=pks, from_days=True)
    return state, days


@pytest.mark.parametrize("name", ["basic", "kolkata_wau", "micro"])
def test_it_lists_the_same_users_from_the_state_as_from_the_daily_rows(name):
    as_of = fixture_config(name)["as_of"]
    product, day = _computed(name, [as_of])
    state_as_of = RollupState.dangerously_unscoped.get(product=product).state_as_of
    assert state_as_of == day  # the state path

    state, days = _both(product, day)

    assert state == days
    assert any(lists["users"] for lists in state.values())


def test_it_lists_the_same_users_after_the_state_moved_forward_day_by_day():
    as_of = date.fromisoformat(fixture_config("basic")["as_of"])
    days = [str(as_of - timedelta(days=n)) for n in (45, 20, 3, 2, 1, 0)]
    product, day = _computed("basic", days)

    state, from_days = _both(product, day)

    assert state == from_days


def test_it_reads_the_daily_rows_for_a_day_the_state_is_not_of():
    as_of = date.fromisoformat(fixture_config("basic")["as_of"])
    earlier = as_of - timedelta(days=15)
    product, _ = _computed("basic", [str(earlier), str(as_of)])

    state, from_days = _both(product, earlier)

    assert state == from_days
    assert any(lists["users"] for lists in state.values())
