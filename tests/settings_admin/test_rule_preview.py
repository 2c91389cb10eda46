"""A rule preview counts the same events the engine maps to a feature (conformance 'basic')."""

from __future__ import annotations

import pytest
from django.urls import reverse

from health.models import AccountHealth, Feature
from health.selectors import drilldown_lists
from settings_admin.selectors import rule_preview
from tests.settings_admin.conftest import BASIC_AS_OF
from vitals.tenancy.scope import tenant_scope


def engine_feature_counts(product) -> dict[str, int]:
    """Each feature's matching events in W summed over the drill-downs of every account."""
    totals: dict[str, int] = {}
    with tenant_scope(product.organization, product):
        account_pks = list(
            AccountHealth.objects.filter(product=product, as_of=BASIC_AS_OF).values_list(
                "account_id", flat=True
            )
        )
        lists = drilldown_lists(product=product, as_of=BASIC_AS_OF, account_pks=account_pks)
    for drilldown in lists.values():
        for key, events in drilldown["features"]:
            totals[key] = totals.get(key, 0) + events
    return totals


@pytest.mark.django_db
def test_it_previews_every_features_rules_as_the_engine_counts_them(basic):
    engine = engine_feature_counts(basic)
    assert sum(engine.values()) > 0
    with tenant_scope(basic.organization, basic):
        features = list(Feature.objects.filter(product=basic))
        previews = {
            feature.key: rule_preview(product=basic, rules=feature.rules) for feature in features
        }
    assert {key: preview["total"] for key, preview in previews.items()} == engine
    window = previews["report_export"]["window"]
    assert (window.start.isoformat(), window.end.isoformat()) == ("2026-10-02", "2026-10-31")


@pytest.mark.django_db
def test_it_counts_an_event_matching_two_rules_once(basic):
    # report_export: {"event": "Report Exported"} and {"page": "/reports/*/export"}; a page
    # rule overlapping /reports/* must not double the /reports/x/export views.
    engine = engine_feature_counts(basic)
    rules = [{"page": "/reports/*"}, {"page": "/reports/*/export"}]
    with tenant_scope(basic.organization, basic):
        preview = rule_preview(product=basic, rules=rules)
    assert preview["total"] == engine["report_view"]
    assert [count for _, count in preview["rules"]][0] == engine["report_view"]


@pytest.mark.django_db
def test_it_shows_the_preview_to_the_admin_over_htmx(basic, basic_client):
    url = reverse("rule_preview", kwargs={"org_slug": "basic", "product_key": "app"})
    engine = engine_feature_counts(basic)
    response = basic_client.get(
        url, {"rule_kind": ["event"], "rule_value": ["Report Created"]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert f'data-testid="rule-preview-total">{engine["report_create"]}<' in text
    assert "<html" not in text  # the partial only
    assert response["Vary"] == "HX-Request" or "HX-Request" in response["Vary"]


@pytest.mark.django_db
def test_it_lists_unmapped_activity_one_click_from_a_feature(basic, basic_client):
    with tenant_scope(basic.organization, basic):
        Feature.objects.filter(product=basic, key="search").delete()
    catalog = reverse("catalog", kwargs={"org_slug": "basic", "product_key": "app"})
    response = basic_client.get(catalog)
    unmapped = response.context["unmapped"]
    searched = next(row for row in unmapped if row["name"] == "Searched")
    assert searched["kind"] == "event" and searched["events"] > 0
    assert "?event=Searched" in response.content.decode()

    new = basic_client.get(
        reverse("feature_new", kwargs={"org_slug": "basic", "product_key": "app"}),
        {"event": "Searched"},
    )
    text = new.content.decode()
    assert 'value="searched"' in text and 'value="Searched"' in text
    assert new.context["preview"]["total"] == searched["events"]
