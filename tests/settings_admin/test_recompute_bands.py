"""Saving settings recomputes health, and the bands follow the new thresholds."""

from __future__ import annotations

import pytest

from health.models import AccountHealth, HealthRun
from settings_admin.services import health_settings_update
from tests.settings_admin.conftest import BASIC_AS_OF
from vitals.tenancy.scope import tenant_scope


def bands(product) -> dict[int, str]:
    return dict(
        AccountHealth.dangerously_unscoped.filter(product=product, as_of=BASIC_AS_OF).values_list(
            "account_id", "health"
        )
    )


@pytest.mark.django_db
def test_it_moves_accounts_between_bands_when_the_score_thresholds_rise(
    basic, basic_admin, django_capture_on_commit_callbacks
):
    before = bands(basic)
    healthy = {account for account, band in before.items() if band == "Healthy"}
    assert healthy, "the fixture has Healthy accounts"
    scores = dict(
        AccountHealth.dangerously_unscoped.filter(product=basic, as_of=BASIC_AS_OF).values_list(
            "account_id", "product_score"
        )
    )
    top = max(scores[account] for account in healthy)
    with tenant_scope(basic.organization, basic), django_capture_on_commit_callbacks(execute=True):
        run = health_settings_update(
            product=basic,
            user=basic_admin,
            core_items=[
                {"module": "Reports"},
                {"feature": "invite_sent"},
                {"label": "core"},
                {"feature": "integration_connect"},
                {"module": "Dashboards/Widgets"},
            ],
            stickiness_mode="dau",
            thresholds={
                "core_feature_usage": (30, 60),
                "active_user_coverage": (40, 70),
                "stickiness": (15, 30),
                "product_score": (25, top + 1),
            },
            as_of=BASIC_AS_OF,
        )
    run.refresh_from_db()
    assert run.status == HealthRun.Status.DONE and run.as_of == BASIC_AS_OF
    after = bands(basic)
    assert all(after[account] == "Neutral" for account in healthy)
    assert {a: b for a, b in after.items() if a not in healthy} == {
        a: b for a, b in before.items() if a not in healthy
    }
