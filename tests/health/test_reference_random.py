"""Randomized datasets in daylight-saving time zones: the engine's export equals the
pure-Python reference (tests/health/reference.py), which reads SPEC.md independently.

The traffic (tests/health/reference_traffic.py) goes through the real ingestion path in
two deliveries (an API one, then a file import that keeps receivedAt, with late group
calls); after each the engine computes a day and its `export_health` outputs are compared
with the reference's for the messages delivered so far: every column of accounts.csv,
summary.json and drilldown.json, integers exactly, floats within 1e-6.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from health.catalog import config_import
from health.conformance import compare_outputs
from health.exports import health_export
from health.services import health_compute
from ingestion.services import RawItem, messages_ingest
from tests.health import reference
from tests.health.reference_traffic import (
    SCENARIOS,
    STALE_SIBLINGS,
    Scenario,
    Traffic,
    config_for,
    day_start,
)
from vitals.tenancy.models import Product
from vitals.tenancy.scope import tenant_scope


def mismatches_with_the_reference(scenario: Scenario, tmp_path: Path) -> list[str]:
    """Ingest the scenario's traffic in its two deliveries, compute and export after each,
    and list every difference from the reference's outputs."""
    traffic = Traffic(scenario).build()
    # with two products, about a third of the messages (group calls too) go to the second
    rng = random.Random(scenario.seed)
    keys = ["app", "mobile"][: scenario.products]
    sent_to = [rng.choice(["app", "app", *keys[1:]]) for _ in traffic]
    middle = scenario.as_of - timedelta(days=12)
    zone = ZoneInfo(scenario.zone)
    cut = day_start(zone, middle + timedelta(days=1))  # arrived by the end of `middle`
    last = max(at for at, _ in traffic)
    deliveries = [
        # (as-of day, received at, arrived before / from `cut`, file import keeping receivedAt)
        (middle, cut, False, False),
        (scenario.as_of, last, True, True),
    ]
    products = {}
    for key in keys:
        product = config_import(data=config_for(scenario, scenario.as_of, key))
        products[key] = Product.dangerously_unscoped.select_related("organization").get(
            pk=product.pk
        )
    accepted = {key: reference.Accepted() for key in keys}
    problems: list[str] = []
    for as_of, received_at, late, keep_own in deliveries:
        for key, product in products.items():
            messages = [
                m
                for (at, m), to in zip(traffic, sent_to, strict=True)
                if to == key and (at >= cut) == late
            ]
            with tenant_scope(product.organization, product):
                messages_ingest(
                    product=product,
                    items=[
                        RawItem(index=i, message=m, raw=json.dumps(m).encode())
                        for i, m in enumerate(messages)
                    ],
                    received_at=received_at,
                    source="file" if keep_own else "api",
                    keep_own_received_at=keep_own,
                )
            reference.accept(messages, received_at, keep_own=keep_own, into=accepted[key])
        for product in products.values() if scenario.settle else ():
            with tenant_scope(product.organization, product):
                health_compute(product=product, as_of=as_of)
        # each product once, in turn, as the nightly queue runs them; then the exports
        for product in products.values():
            with tenant_scope(product.organization, product):
                health_compute(product=product, as_of=as_of)
        for key, product in products.items():
            out = tmp_path / f"{key}-{as_of}"
            with tenant_scope(product.organization, product):
                health_export(product=product, as_of=as_of, out_dir=out)
            expected = reference.compute(
                accepted[key].messages,
                config_for(scenario, as_of, key),
                accepted[key],
                other_products=[accepted[other].messages for other in keys if other != key],
            )
            reference.write_outputs(expected, out, prefix="expected_")
            problems += [f"{key} as of {as_of}: {line}" for line in compare_outputs(out, out)]
    return problems


@pytest.mark.django_db
@pytest.mark.parametrize(
    "scenario",
    [*SCENARIOS, STALE_SIBLINGS],
    ids=[s.name for s in [*SCENARIOS, STALE_SIBLINGS]],
)
def test_the_engine_equals_the_reference(scenario, tmp_path):
    mismatches = mismatches_with_the_reference(scenario, tmp_path)
    assert mismatches == [], f"{scenario.name}:\n" + "\n".join(mismatches[:40])


@pytest.mark.django_db
def test_it_would_notice_days_cut_without_daylight_saving(monkeypatch, tmp_path):
    """The comparison can fail: a reference that reads New York at a fixed UTC-5 all year
    (its days wrong by an hour from March 8) disagrees with the engine."""
    monkeypatch.setattr(reference, "ZoneInfo", lambda name: timezone(timedelta(hours=-5)))
    mismatches = mismatches_with_the_reference(SCENARIOS[0], tmp_path)
    assert any(".avg_dau" in line for line in mismatches)
