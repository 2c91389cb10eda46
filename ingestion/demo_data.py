"""Deterministic demo data: a catalog and a stream of Segment messages for `seed_demo`.

Pure Python, no database. `demo_messages` yields (product key, message) pairs day by day,
so a seed of any size runs in constant memory. Accounts fall in four cohorts a CS manager
recognises: healthy, declining (activity drops in the last 30 days), churned (silent for
the last 45 days or more) and brand new (created in the last 30 days).
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

ORG_SLUG = "demo"
ORG_NAME = "Northwind Analytics"
ORG_TIMEZONE = "America/New_York"
WEB_KEY = "web"
MOBILE_KEY = "mobile"

USERS_PER_ACCOUNT = 16  # mean; the distribution is a power law
WEEKEND_FACTOR = 0.25
MOBILE_SHARE = 0.12  # users who also use the mobile app

# (key, name, module, labels, rules): the web product's feature catalog.
WEB_FEATURES: list[tuple[str, str, str, list[str], list[dict[str, str]]]] = [
    ("dash_view", "View dashboard", "Dashboards", ["core"], [{"page": "/dashboards/*"}]),
    ("dash_create", "Create dashboard", "Dashboards", [], [{"event": "Dashboard Created"}]),
    ("widget_add", "Add widget", "Dashboards/Widgets", [], [{"event": "Widget Added"}]),
    ("widget_share", "Share widget", "Dashboards/Widgets", ["beta"], [{"event": "Widget Shared"}]),
    ("report_create", "Create report", "Reports", ["core"], [{"event": "Report Created"}]),
    ("report_view", "View report", "Reports", [], [{"page": "/reports/*"}]),
    (
        "report_export",
        "Export report",
        "Reports/Exports",
        [],
        [{"event": "Report Exported"}, {"page": "/reports/*/export"}],
    ),
    (
        "report_schedule",
        "Schedule export",
        "Reports/Exports",
        ["beta"],
        [{"event": "Export Scheduled"}],
    ),
    ("ai_summary", "AI summary", "Reports", ["ai", "beta"], [{"event": "Summary Generated"}]),
    ("invite_sent", "Invite teammate", "Collaboration", [], [{"event": "Invite Sent"}]),
    ("comment_add", "Comment", "Collaboration", [], [{"event": "Comment Added"}]),
    ("mention", "Mention", "Collaboration", [], [{"event": "User Mentioned"}]),
    (
        "integration_connect",
        "Connect integration",
        "Integrations",
        [],
        [{"event": "Integration Connected"}],
    ),
    ("integration_sync", "Run sync", "Integrations", [], [{"event": "Sync Run"}]),
    ("never_used", "Legacy importer", "Integrations/Legacy", [], [{"event": "Legacy Import"}]),
    ("settings_view", "Settings", "Admin", [], [{"page": "/settings/*"}]),
    ("billing_view", "Billing", "Admin/Billing", [], [{"page": "/settings/billing*"}]),
    ("api_token", "Create API token", "Admin", [], [{"event": "API Token Created"}]),
    ("search", "Search", "Navigation", [], [{"event": "Searched"}]),
]

MOBILE_FEATURES: list[tuple[str, str, str, list[str], list[dict[str, str]]]] = [
    ("m_dashboards", "Dashboards (mobile)", "Dashboards", ["core"], [{"page": "/dashboards*"}]),
    ("m_reports", "Reports (mobile)", "Reports", ["core"], [{"page": "/reports*"}]),
    ("m_alert_open", "Open alert", "Alerts", [], [{"event": "Alert Opened"}]),
    ("m_push", "Push notification", "Alerts", [], [{"event": "Push Opened"}]),
]

# What a session is made of: (kind, name or path template, weight, feature adopted or None).
# Features not adopted by an account are never used by its users; None is always available
# (navigation, and the events and pages the catalog does not map).
WEB_ACTIONS: list[tuple[str, str, float, str | None]] = [
    ("page", "/dashboards/{id}", 22, "dash_view"),
    ("page", "/reports/{id}", 14, "report_view"),
    ("page", "/reports/{id}/export", 2, "report_export"),
    ("page", "/settings/profile", 1.5, "settings_view"),
    ("page", "/settings/team", 1, "settings_view"),
    ("page", "/settings/billing", 0.6, "billing_view"),
    ("page", "/home", 9, None),
    ("page", "/help/articles/{id}", 1.5, None),
    ("page", "/onboarding", 0.8, None),
    ("track", "Dashboard Created", 2, "dash_create"),
    ("track", "Widget Added", 4, "widget_add"),
    ("track", "Widget Shared", 1, "widget_share"),
    ("track", "Report Created", 4, "report_create"),
    ("track", "Report Exported", 3, "report_export"),
    ("track", "Export Scheduled", 0.8, "report_schedule"),
    ("track", "Summary Generated", 1.5, "ai_summary"),
    ("track", "Invite Sent", 0.6, "invite_sent"),
    ("track", "Comment Added", 3, "comment_add"),
    ("track", "User Mentioned", 1.2, "mention"),
    ("track", "Integration Connected", 0.3, "integration_connect"),
    ("track", "Sync Run", 2, "integration_sync"),
    ("track", "API Token Created", 0.2, "api_token"),
    ("track", "Searched", 6, "search"),
    ("track", "Button Clicked", 5, None),
    ("track", "Tooltip Viewed", 1.5, None),
    ("track", "Onboarding Step Completed", 0.5, None),
]
ALWAYS_ADOPTED = {"dash_view", "report_view", "settings_view", "search"}
ALWAYS_SKIPPED = {"never_used"}

MOBILE_ACTIONS: list[tuple[str, str, float]] = [
    ("screen", "/dashboards/{id}", 10),
    ("screen", "/reports/{id}", 6),
    ("screen", "/home", 6),
    ("track", "Alert Opened", 3),
    ("track", "Push Opened", 2),
    ("track", "App Backgrounded", 2),
]

CORE_ITEMS = [
    {"label": "core"},
    {"module": "Reports"},
    {"module": "Dashboards/Widgets"},
    {"feature": "invite_sent"},
    {"feature": "integration_connect"},
]
THRESHOLDS = {
    "core_feature_usage": [30, 60],
    "active_user_coverage": [40, 70],
    "stickiness": [15, 30],
    "product_score": [25, 45],
}

_NAME_FIRST = (
    "Acme Blue Bright Cedar Copper Delta Ember Falcon Granite Harbor Iris Juniper Keystone "
    "Lumen Maple Nimbus Orbit Pine Quartz River Summit Tidal Umber Vertex Willow Zephyr Atlas "
    "Beacon Cobalt Drift Evergreen Frontier Golden Helix Indigo"
).split()
_NAME_SECOND = (
    "Labs Logistics Health Systems Foods Capital Robotics Media Energy Bank Retail Networks "
    "Studios Analytics Partners Works Dynamics Cloud Supply Motors Bio Learning Insurance "
    "Travel"
).split()
_NAME_SUFFIXES = ["Group", "Inc", "Co", "GmbH", "Ltd", "Holdings", "International"]
_INDUSTRIES = (
    "Software, Retail, Healthcare, Financial Services, Manufacturing, Education, "
    "Logistics, Media, Energy, Hospitality, Real Estate, Telecommunications"
).split(", ")
# (city, region, country, country code, continent, time zone)
_PLACES = [
    ("New York", "New York", "United States", "US", "North America", "America/New_York"),
    ("Austin", "Texas", "United States", "US", "North America", "America/Chicago"),
    ("San Francisco", "California", "United States", "US", "North America", "America/Los_Angeles"),
    ("Chicago", "Illinois", "United States", "US", "North America", "America/Chicago"),
    ("Boston", "Massachusetts", "United States", "US", "North America", "America/New_York"),
    ("Toronto", "Ontario", "Canada", "CA", "North America", "America/Toronto"),
    ("London", "England", "United Kingdom", "GB", "Europe", "Europe/London"),
    ("Berlin", "Berlin", "Germany", "DE", "Europe", "Europe/Berlin"),
    ("Paris", "Ile-de-France", "France", "FR", "Europe", "Europe/Paris"),
    ("Amsterdam", "North Holland", "Netherlands", "NL", "Europe", "Europe/Amsterdam"),
    ("Madrid", "Madrid", "Spain", "ES", "Europe", "Europe/Madrid"),
    ("Stockholm", "Stockholm", "Sweden", "SE", "Europe", "Europe/Stockholm"),
    ("Sydney", "New South Wales", "Australia", "AU", "Oceania", "Australia/Sydney"),
    ("Singapore", "Singapore", "Singapore", "SG", "Asia", "Asia/Singapore"),
    ("Tokyo", "Tokyo", "Japan", "JP", "Asia", "Asia/Tokyo"),
    ("Sao Paulo", "Sao Paulo", "Brazil", "BR", "South America", "America/Sao_Paulo"),
]
_FIRST_NAMES = (
    "Ava Ben Chloe Daniel Emma Felix Grace Hugo Isla Jack Kara Liam Maya Noah Olivia Priya "
    "Quinn Ravi Sofia Tom Uma Victor Wen Yara Zoe Aiko Carlos Fatima Lars Mei"
).split()
_LAST_NAMES = (
    "Smith Garcia Chen Muller Rossi Kowalski Nguyen Patel Okafor Silva Larsen Dubois Tanaka "
    "Kim Johnson Brown Novak Haddad"
).split()
_ROLES = ["admin", "analyst", "member", "member", "member", "viewer", "viewer"]
_CSMS = ["Dana Whitfield", "Marco Reyes", "Ingrid Holm", "Samira Khan", "Owen Park"]
_PLANS = [("free", 0.3), ("starter", 0.3), ("pro", 0.28), ("enterprise", 0.12)]
_EMPLOYEES = {"free": (2, 30), "starter": (10, 200), "pro": (50, 2000), "enterprise": (500, 40000)}
_MRR = {"free": (0, 0), "starter": (49, 299), "pro": (300, 2500), "enterprise": (3000, 40000)}
_COHORTS = [("healthy", 0.58), ("declining", 0.16), ("churned", 0.12), ("new", 0.14)]
_LIBRARY = {"name": "analytics.js", "version": "5.2.1"}
_MOBILE_LIBRARY = {"name": "analytics-ios", "version": "4.1.6"}


def catalog_config(*, product_key: str) -> dict[str, Any]:
    """The config.json document `config_import` takes for one of the demo products."""
    web = product_key == WEB_KEY
    features = WEB_FEATURES if web else MOBILE_FEATURES
    return {
        "organization": {"name": ORG_NAME, "slug": ORG_SLUG, "timezone": ORG_TIMEZONE},
        "product": {
            "name": "Northwind Web" if web else "Northwind Mobile",
            "key": WEB_KEY if web else MOBILE_KEY,
        },
        "features": [
            {"key": key, "name": name, "module": module, "labels": labels, "rules": rules}
            for key, name, module, labels, rules in features
        ],
        "settings": {
            "core_items": CORE_ITEMS if web else [{"label": "core"}],
            "stickiness": "dau",
            "thresholds": THRESHOLDS,
        },
    }


@dataclass
class _Account:
    group_id: str
    cohort: str
    traits: dict[str, Any]
    created: date  # the day activity can start
    engagement: float
    churn_day: date | None  # last active day of a churned account
    actions: list[tuple[str, str]] = field(default_factory=list)
    cum_weights: list[float] = field(default_factory=list)
    domain: str = ""


@dataclass
class _User:
    user_id: str
    account: _Account
    traits: dict[str, Any]
    start: date
    propensity: float
    mobile: bool
    first_session: int  # epoch seconds; identify and group are dated by it
    late_group_hours: int  # 0: the group call comes with the first session
    move: tuple[date, _Account, int] | None = None  # day, new account, group call time


def _weighted(rng: random.Random, choices: list[tuple[str, float]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


_EPOCH_DATE = date(1970, 1, 1)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class DemoWorld:
    """Accounts and users, planned up front (small), then played day by day (large)."""

    def __init__(
        self,
        *,
        accounts: int,
        days: int,
        users_per_account_max: int,
        seed: int,
        today: date,
        now: datetime,
    ) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.today = today
        self.first_day = today - timedelta(days=days - 1)
        self.now_epoch = _epoch(now)
        self.tz = ZoneInfo(ORG_TIMEZONE)
        self._day_prefix: dict[int, str] = {}
        self._names: set[str] = set()
        self.accounts = [self._make_account(n) for n in range(accounts)]
        self.users = self._make_users(users_per_account_max)
        self._counter = 0

    # -- planning -------------------------------------------------------------------------

    def _make_account(self, n: int) -> _Account:
        rng = self.rng
        cohort = _weighted(rng, _COHORTS)
        plan = _weighted(rng, _PLANS)
        name = f"{rng.choice(_NAME_FIRST)} {rng.choice(_NAME_SECOND)}"
        if name in self._names:
            name = f"{name} {rng.choice(_NAME_SUFFIXES)}"
        if name in self._names:
            name = f"{name} {n + 1}"
        self._names.add(name)
        domain = name.lower().replace(" ", "") + ".example"
        city, region, country, code, continent, tz = rng.choice(_PLACES)
        if cohort == "new":
            created = self.today - timedelta(days=rng.randint(1, min(29, self.days - 1)))
        else:
            created = self.first_day - timedelta(days=rng.randint(30, 1500))
        churn_day = None
        if cohort == "churned":
            latest = self.today - timedelta(days=46)
            earliest = min(self.first_day + timedelta(days=10), latest)
            churn_day = earliest + timedelta(days=rng.randint(0, max(0, (latest - earliest).days)))
        status = _weighted(
            rng, [("customer", 0.86), ("lead", 0.08), ("prospect", 0.04), ("trial", 0.02)]
        )
        if status in ("lead", "prospect", "trial"):
            plan = "free"
        low, high = _EMPLOYEES[plan]
        traits: dict[str, Any] = {
            "name": name,
            "plan": plan,
            "industry": rng.choice(_INDUSTRIES),
            "employees": rng.randint(low, high),
            "website": f"https://www.{domain}",
            "status": status,
            "city": city,
            "region": region,
            "country": country,
            "country_code": code,
            "continent": continent,
            "timezone": tz,
            "mrr": rng.randint(*_MRR[plan]),
        }
        if rng.random() < 0.9 or cohort == "new":
            traits["createdAt"] = f"{created.isoformat()}T{rng.randint(8, 20):02d}:00:00Z"
        if plan in ("pro", "enterprise"):
            traits["csm_owner"] = rng.choice(_CSMS)
        if rng.random() < 0.3:
            traits["inferred_revenue"] = traits["employees"] * rng.randint(80, 250) * 1000
        engagement = {"healthy": 1.2, "declining": 1.0, "churned": 0.8, "new": 1.1}[cohort]
        engagement *= rng.uniform(0.6, 1.4)
        account = _Account(
            group_id=f"acct_{n + 1:05d}",
            cohort=cohort,
            traits=traits,
            created=max(created, self.first_day),
            engagement=engagement,
            churn_day=churn_day,
            domain=domain,
        )
        # Healthy accounts adopt more of the catalog than the others.
        adopt = {"healthy": 0.75, "new": 0.45, "declining": 0.5, "churned": 0.35}[cohort]
        for kind, name_template, weight, feature in WEB_ACTIONS:
            if feature in ALWAYS_SKIPPED:
                continue
            if feature is None or feature in ALWAYS_ADOPTED or rng.random() < adopt:
                account.actions.append((kind, name_template))
                account.cum_weights.append(weight)
        account.cum_weights = list(accumulate(account.cum_weights))
        return account

    def _make_users(self, cap: int) -> list[_User]:
        rng = self.rng
        weights = [rng.paretovariate(1.3) for _ in self.accounts]
        scale = USERS_PER_ACCOUNT * len(self.accounts) / sum(weights)
        users: list[_User] = []
        for account, weight in zip(self.accounts, weights, strict=True):
            count = max(1, min(cap, round(weight * scale)))
            if account.cohort == "new":
                count = max(1, count // 3)
            for _ in range(count):
                users.append(self._make_user(len(users), account))
        # A few people change jobs (or teams): they join another account mid-window.
        for user in rng.sample(users, k=len(users) // 80):
            target = rng.choice(self.accounts)
            if target is user.account or target.cohort != "healthy":
                continue
            day = self.first_day + timedelta(days=rng.randint(self.days // 3, self.days - 5))
            if day > user.start:
                moment = self._moment(day, rng.randint(8 * 3600, 10 * 3600))
                user.move = (day, target, moment)
        return users

    def _make_user(self, n: int, account: _Account) -> _User:
        rng = self.rng
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        span = max(1, (self.today - account.created).days)
        # Most people are there from the start; some join later.
        offset = 0 if rng.random() < 0.65 else rng.randint(0, span)
        start = account.created + timedelta(days=min(offset, span))
        if account.churn_day is not None:
            start = min(start, account.churn_day)
        first_session = self._moment(start, rng.randint(7 * 3600, 19 * 3600))
        if first_session > self.now_epoch:
            first_session = max(self._moment(start, 0), self.now_epoch - 600)
        return _User(
            first_session=first_session,
            user_id=f"user_{n + 1:06d}",
            account=account,
            traits={
                "email": f"{first.lower()}.{last.lower()}{n}@{account.domain}",
                "name": f"{first} {last}",
                "firstName": first,
                "lastName": last,
                "role": rng.choice(_ROLES),
                "createdAt": f"{start.isoformat()}T12:00:00Z",
            },
            start=start,
            propensity=rng.betavariate(2, 4.5),
            mobile=rng.random() < MOBILE_SHARE,
            late_group_hours=rng.randint(1, 60) if rng.random() < 0.12 else 0,
        )

    def _moment(self, day: date, seconds: int) -> int:
        return _epoch(datetime.combine(day, time(), tzinfo=self.tz)) + seconds

    # -- playing --------------------------------------------------------------------------

    def _next_id(self) -> str:
        self._counter += 1
        return f"demo-{self._counter}"

    def _activity(self, account: _Account, day: date) -> float:
        """How active an account is on a day, before weekday rhythm and user propensity."""
        if day < account.created:
            return 0.0
        if account.churn_day is not None:
            if day > account.churn_day:
                return 0.0
            days_left = (account.churn_day - day).days
            return account.engagement * (0.3 + 0.7 * min(1.0, days_left / 30))
        if account.cohort == "declining":
            since_drop = (day - (self.today - timedelta(days=30))).days
            if since_drop > 0:
                return account.engagement * max(0.1, 1.0 - since_drop / 25)
        if account.cohort == "new":
            return account.engagement * min(1.0, 0.4 + (day - account.created).days / 10)
        return account.engagement

    def messages(self) -> Iterator[tuple[str, dict[str, Any]]]:
        # Identities first, like a CRM backfill before the event stream: identify and group
        # calls keep their own (event) times, so late group calls and moves still attribute
        # by event time, and the activity chunks that follow carry no memberships to
        # re-attribute.
        for user in self.users:
            yield WEB_KEY, self._identify(user, user.first_session - 5)
            group_time = user.first_session - 4
            if user.late_group_hours:
                group_time = min(self.now_epoch, group_time + user.late_group_hours * 3600)
            yield WEB_KEY, self._group(user, user.account, group_time)
            if user.move is not None:
                yield WEB_KEY, self._group(user, user.move[1], user.move[2])
        day = self.first_day
        while day <= self.today:
            midnight = _epoch(datetime.combine(day, time(), tzinfo=self.tz))
            weekend = day.weekday() >= 5
            random_ = self.rng.random
            randint = self.rng.randint
            for user in self.users:
                if day < user.start:
                    continue
                account = user.account
                if user.move is not None and day >= user.move[0]:
                    account = user.move[1]
                activity = self._activity(account, day)
                if day == user.start:
                    # The first session is the planned one the identity calls were dated by.
                    yield from self._session(user, account, user.first_session)
                    continue
                if activity <= 0.0:
                    continue
                chance = user.propensity * activity * (WEEKEND_FACTOR if weekend else 1.0)
                if random_() >= chance:
                    continue
                sessions = 1 + (random_() < 0.35) + (random_() < 0.1)
                for _ in range(sessions):
                    start = midnight + randint(7 * 3600, 19 * 3600)
                    if start <= self.now_epoch:
                        yield from self._session(user, account, start)
            yield from self._anonymous_visits(midnight, weekend)
            day += timedelta(days=1)

    def _identify(self, user: _User, moment: int) -> dict[str, Any]:
        return {
            "type": "identify",
            "messageId": self._next_id(),
            "userId": user.user_id,
            "timestamp": self._iso(moment),
            "traits": user.traits,
            "context": {"library": _LIBRARY},
        }

    def _group(self, user: _User, account: _Account, moment: int) -> dict[str, Any]:
        return {
            "type": "group",
            "messageId": self._next_id(),
            "userId": user.user_id,
            "groupId": account.group_id,
            "timestamp": self._iso(moment),
            "traits": account.traits,
            "context": {"library": _LIBRARY},
        }

    def _iso(self, moment: int) -> str:
        """Epoch seconds to ISO 8601 with Z; day prefixes are cached (this runs a million
        times)."""
        day, seconds = divmod(moment, 86400)
        prefix = self._day_prefix.get(day)
        if prefix is None:
            prefix = self._day_prefix[day] = f"{_EPOCH_DATE + timedelta(days=day):%Y-%m-%d}T"
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.000Z"

    def _session(
        self, user: _User, account: _Account, start: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        rng = self.rng
        mobile = user.mobile and rng.random() < 0.3
        count = 1 + int(rng.expovariate(1 / 3.2))
        moment = start
        if mobile:
            actions = [
                rng.choices(MOBILE_ACTIONS, weights=[a[2] for a in MOBILE_ACTIONS])[0]
                for _ in range(count)
            ]
            for kind, name, _ in actions:
                yield (
                    MOBILE_KEY,
                    self._activity_message(user, account, kind, name, moment, _MOBILE_LIBRARY),
                )
                moment += rng.randint(5, 240)
            return
        cum = account.cum_weights
        total = cum[-1]
        for _ in range(count):
            kind, name = account.actions[bisect(cum, rng.random() * total)]
            yield WEB_KEY, self._activity_message(user, account, kind, name, moment, _LIBRARY)
            moment += rng.randint(10, 420)

    def _activity_message(
        self,
        user: _User,
        account: _Account,
        kind: str,
        name: str,
        moment: int,
        library: dict[str, str],
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": kind,
            "messageId": self._next_id(),
            "userId": user.user_id,
            "timestamp": self._iso(moment),
            "context": {"library": library},
        }
        if kind == "track":
            message["event"] = name
            message["properties"] = {"plan": account.traits["plan"]}
        else:
            path = name.replace("{id}", str(self.rng.randint(1, 60))) if "{" in name else name
            message["name"] = path.strip("/").split("/")[0].title() or "Home"
            message["properties"] = (
                {"path": path}
                if kind == "screen"
                else {"path": path, "url": f"https://app.northwind.example{path}"}
            )
        return message

    def _anonymous_visits(
        self, midnight: int, weekend: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Marketing-site traffic: stored, but it belongs to no account."""
        visits = max(1, len(self.accounts) // (8 if weekend else 4))
        for _ in range(visits):
            moment = midnight + self.rng.randint(0, 86399)
            if moment > self.now_epoch:
                continue
            path = self.rng.choice(["/", "/pricing", "/blog/health-scores", "/signup"])
            yield (
                WEB_KEY,
                {
                    "type": "page",
                    "messageId": self._next_id(),
                    "anonymousId": f"anon-{self.rng.randint(1, 10**9):09d}",
                    "timestamp": self._iso(moment),
                    "name": "Marketing",
                    "properties": {"path": path, "url": f"https://northwind.example{path}"},
                    "context": {"library": _LIBRARY},
                },
            )


def demo_messages(
    *,
    accounts: int,
    days: int,
    users_per_account_max: int,
    seed: int,
    now: datetime,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (product key, Segment message) for `days` days ending on `now`'s date."""
    today = now.astimezone(ZoneInfo(ORG_TIMEZONE)).date()
    world = DemoWorld(
        accounts=accounts,
        days=days,
        users_per_account_max=users_per_account_max,
        seed=seed,
        today=today,
        now=now,
    )
    return world.messages()
