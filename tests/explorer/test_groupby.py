"""The group-by report: its numbers equal a direct computation over AccountHealth for the
basic conformance fixture; members see it, outsiders get 404; it exports as CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from statistics import mean

import pytest
from django.urls import reverse

from accounts_explorer.groupby import METRICS, NONE_LABEL, groupby_rows
from health.models import AccountHealth
from vitals.tenancy.scope import tenant_scope


def expected(rows: list[AccountHealth], key: str, trait: str) -> dict[str, tuple]:
    """Each metric written out in Python, one account at a time."""
    groups: dict[str, list[AccountHealth]] = defaultdict(list)
    for row in rows:
        groups[str(row.account.traits.get(trait) or "") or NONE_LABEL].append(row)

    def value(members: list[AccountHealth], prev: str) -> float | None:
        active = [m for m in members if getattr(m, f"active_users{prev}") > 0]
        field = {
            "cfu": "core_feature_usage",
            "stickiness": "stickiness",
            "coverage": "active_user_coverage",
            "score": "product_score",
        }.get(key)
        if key == "accounts":
            return len(active)
        if key == "mau":
            return mean(getattr(m, f"active_users{prev}") for m in members)
        if field is not None:
            values = [getattr(m, field + prev) for m in active]
            values = [v for v in values if v is not None]
            return mean(values) if values else None
        return sum(getattr(m, key + prev) for m in members)

    return {g: (value(ms, ""), value(ms, "_prev")) for g, ms in groups.items()}


@pytest.mark.django_db
@pytest.mark.parametrize("trait", ["plan", "region", "industry", "country"])
def test_it_equals_a_direct_computation_over_account_health(basic, trait):
    with tenant_scope(basic.organization, basic.product):
        rows = list(
            AccountHealth.objects.filter(product=basic.product, as_of=basic.as_of).select_related(
                "account"
            )
        )
        assert len({str(r.account.traits.get(trait)) for r in rows}) > 1
        for key, metric in METRICS.items():
            got = {
                r.group: (r.current, r.prior)
                for r in groupby_rows(
                    product=basic.product, as_of=basic.as_of, metric=metric, trait=trait
                )
            }
            want = expected(rows, key, trait)
            assert got.keys() == want.keys(), key
            for group, (current, prior) in want.items():
                assert got[group] == (
                    pytest.approx(current) if current is not None else None,
                    pytest.approx(prior) if prior is not None else None,
                ), (key, group)


def _url(basic, query: str = "") -> str:
    return reverse("groupby_report", args=[basic.organization.slug, basic.product.key]) + query


@pytest.mark.django_db
def test_it_shows_the_chart_and_table_to_a_member(basic, basic_bob):
    response = basic_bob.get(_url(basic, "?metric=visits&by=region"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="img"' in html and '<title id="groupby-chart-title">Visits (sum) by Region' in html
    assert 'class="visually-hidden"' in html
    with tenant_scope(basic.organization):
        groups = {
            r.group
            for r in groupby_rows(
                product=basic.product, as_of=basic.as_of, metric=METRICS["visits"], trait="region"
            )
        }
    for group in groups:
        assert f'data-group="{group}"' in html


@pytest.mark.django_db
def test_it_answers_404_to_an_outsider(basic, basic_alice, charlie_client):
    assert charlie_client.get(_url(basic)).status_code == 404


@pytest.mark.django_db
def test_it_exports_the_numbers_as_csv(basic, basic_alice):
    response = basic_alice.get(_url(basic, "?metric=score&by=plan&format=csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0] == ["plan", "score", "score_prev", "change_percent"]
    with tenant_scope(basic.organization):
        rows = groupby_rows(
            product=basic.product, as_of=basic.as_of, metric=METRICS["score"], trait="plan"
        )
    assert [line[0] for line in lines[1:]] == [r.group for r in rows]
    assert [float(line[1]) if line[1] else None for line in lines[1:]] == [r.current for r in rows]


@pytest.mark.django_db
def test_it_falls_back_to_defaults_for_unknown_parameters(basic, basic_alice):
    response = basic_alice.get(_url(basic, "?metric=nope&by=trait.%3Dnope"))
    assert response.status_code == 200
    assert "Active accounts by Plan" in response.content.decode()
