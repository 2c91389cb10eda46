"""The health engine: SPEC sections 3-8 as set-based SQL over the stored events.

1. daily.py: events -> 15-minute buckets -> sessions and one row per (day, account, user)
   (health_session, health_user_day), for every day (--full) or the touched days;
2. state.py: the window sums of the as-of day D per (account, user), per account and per
   (account, event key), rebuilt, or moved forward from the previous D by the days that
   enter and leave the windows;
3. evaluate.py: every account's KPIs and bands for D (health_accounthealth, one row per
   account per as-of day) and the portfolio (health_portfoliohealth).
Python only orchestrates: it works out the windows and which days changed.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection

from health.catalog import health_settings_for
from health.engine import daily
from health.engine.evaluate import account_health_write, portfolio_write, siblings_refresh
from health.engine.maps import core_map_for, rollup_signature
from health.engine.state import MAX_ADVANCE_DAYS, risk_refresh, state_advance, state_rebuild
from health.engine.windows import W_DAYS, Windows
from health.models import Feature, Module, RollupState
from vitals.tenancy.models import Product

__all__ = ["Windows", "health_compute_sql"]

# Rollup tables the later statements plan over; analyzed after a rebuild (autovacuum may
# be behind or off, and a fresh table looks empty to the planner).
_REBUILT_TABLES = ("health_user_day", "health_session")


def health_compute_sql(*, product: Product, as_of: date, full: bool) -> int:
    """Run every layer for one product and as-of day. Caller owns the transaction."""
    windows = Windows.for_day(as_of, product.organization.timezone)
    settings = health_settings_for(product=product)
    core = core_map_for(product=product, settings=settings)
    signature = rollup_signature(product=product, settings=settings)
    state, _ = RollupState.objects.get_or_create(
        organization_id=product.organization_id, product=product
    )
    # Take the touched-day marks first: each later statement reads events with a newer
    # snapshot, so every event behind a mark taken here is seen. An ingest that commits
    # meanwhile waits on the deleted mark and writes a new one for the next run. Days after
    # D keep their marks for the run that reaches them.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM ingestion_touchedday WHERE product_id = %s AND day <= %s RETURNING day",
            [product.pk, as_of],
        )
        touched = sorted({row[0] for row in cursor.fetchall()})
    catalog, _, risk = signature.partition(":")
    built_catalog, _, built_risk = state.state_signature.partition(":")
    rebuild = (
        full
        or state.sessions_cutoff is None
        or state.state_as_of is None
        or built_catalog != catalog
    )
    if rebuild:
        # A catalog or core-item change recomputed for the day of the last run, with no
        # late events pending, keeps the sessions: they are the same events' (the settings
        # page's recompute, which should be visible within a minute).
        keep_sessions = (
            not full
            and not touched
            and state.state_as_of is not None
            and state.sessions_cutoff == windows.cutoff
        )
        daily.rebuild_all(product=product, windows=windows, core=core, keep_sessions=keep_sessions)
        state.keys_from = windows.w_start
        state.usage_features, state.usage_modules = catalog_positions(product=product)
        _analyze(_REBUILT_TABLES)
        state_rebuild(
            product=product, windows=windows, settings=settings, core=core, usage=usage(state)
        )
    else:
        # Daily rows carry their events per key from keys_from on; a W reaching further
        # back (a run for an older day) has those days rebuilt with them.
        if state.keys_from is None or windows.w_start < state.keys_from:
            last = (state.keys_from or as_of + timedelta(days=1)) - timedelta(days=1)
            uncovered = [windows.w_start + timedelta(days=n) for n in range(W_DAYS)]
            touched = sorted({*touched, *(day for day in uncovered if day <= last)})
            state.keys_from = windows.w_start
        changes = daily.rebuild_days(
            product=product,
            windows=windows,
            core=core,
            touched=touched,
            sessions_cutoff=state.sessions_cutoff,
        )
        previous = state.state_as_of
        if as_of < previous or (as_of - previous).days > MAX_ADVANCE_DAYS:
            state_rebuild(
                product=product, windows=windows, settings=settings, core=core, usage=usage(state)
            )
        else:
            state_advance(
                product=product,
                windows=windows,
                previous=previous,
                settings=settings,
                core=core,
                changes=changes,
                usage=usage(state),
            )
            if built_risk != risk:
                # a new CFU lower limit: only the at-risk flags and their sums move
                risk_refresh(product=product, windows=windows, settings=settings, core=core)
    state.sessions_cutoff = windows.cutoff
    state.state_as_of = as_of
    state.state_signature = signature
    state.save(
        update_fields=[
            "sessions_cutoff",
            "state_as_of",
            "state_signature",
            "keys_from",
            "usage_features",
            "usage_modules",
        ]
    )
    rows = account_health_write(product=product, windows=windows, settings=settings, k=core.k)
    summary = portfolio_write(product=product, windows=windows, settings=settings, k=core.k)
    siblings_refresh(product=product, as_of=as_of, total_users=summary["total_users"])
    return rows


def usage(state: RollupState) -> tuple[list[str], list[str]]:
    return list(state.usage_features), list(state.usage_modules)


def catalog_positions(*, product: Product) -> tuple[list[str], list[str]]:
    """The order of the usage arrays: feature keys and module paths, sorted."""
    features = Feature.objects.filter(product=product).order_by("key").values_list("key", flat=True)
    modules = Module.objects.filter(product=product).order_by("path").values_list("path", flat=True)
    return list(features), list(modules)


def _analyze(tables: tuple[str, ...]) -> None:
    # ANALYZE needs the tables' owner: a SECURITY DEFINER function (tenancy migration 0002).
    with connection.cursor() as cursor:
        cursor.execute("SELECT vitals_analyze(%s)", [list(tables)])
