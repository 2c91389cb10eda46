"""Randomized Segment traffic for the comparison with the reference
(tests/health/test_reference_random.py): a catalog, scenarios and their messages.

Each scenario draws accounts (traits, created dates, leads), users (group calls, identify
with accountId, late and moved memberships, memberships dated after the as-of day),
sessions across local midnight and across the shift hour, events at the first and last
millisecond of local days on shift days, context.groupId, anonymous traffic, duplicates,
originalTimestamp/sentAt/receivedAt, page paths carried three ways, globs with characters
SQL LIKE and regular expressions treat specially.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FEATURES = [
    {"key": "report_create", "module": "Reports", "rules": [{"event": "Report Created"}]},
    {
        "key": "report_export",
        "module": "Reports/Exports",
        "labels": ["core"],
        "rules": [{"event": "Report Exported"}, {"page": "/reports/*/export"}],
    },
    {"key": "report_view", "module": "Reports", "rules": [{"page": "/reports/*"}]},
    {
        "key": "dash_view",
        "module": "Dashboards",
        "labels": ["core"],
        "rules": [{"page": "/dashboards/*"}],
    },
    {"key": "widget_add", "module": "Dashboards/Widgets", "rules": [{"event": "Widget Added"}]},
    {"key": "invite", "labels": ["core", "collab"], "rules": [{"event": "Invite Sent"}]},
    {"key": "settings", "module": "Admin", "rules": [{"page": "/settings*"}]},
    # Admin/Security has no feature of its own: a module by ancestry only
    {"key": "key_rotate", "module": "Admin/Security/Keys", "rules": [{"event": "Key Rotated"}]},
    # `%` and `_` are LIKE wildcards, `.`, `?`, `[` regular-expression or fnmatch ones: literal here
    {"key": "docs_done", "module": "Docs", "rules": [{"page": "/docs/100%_done*"}]},
    {
        "key": "files",
        "module": "Docs",
        "labels": ["collab"],
        "rules": [{"page": "/files/[id]?*.v1"}],
    },
    {"key": "search", "module": "Navigation", "rules": [{"event": "Searched"}]},
    {"key": "search_any", "module": "Navigation/Any", "rules": [{"event": "Searched"}]},
    {"key": "legacy", "module": "Legacy", "rules": [{"event": "Legacy Import"}]},
]
CORE_ITEMS = [
    {"module": "Reports"},
    {"label": "core"},
    {"feature": "widget_add"},
    {"module": "Admin"},
]
TRACKS = [
    "Report Created",
    "Report Exported",
    "Widget Added",
    "Invite Sent",
    "Key Rotated",
    "Searched",
    "Noise",
    "report created",  # case matters: no match
]
PAGES = [
    "/reports/12",
    "/reports/12/export",
    "/reports/export",
    "/dashboards/main",
    "/dashboards/",
    "/dashboard",
    "/settings",
    "/settings/billing",
    "/docs/100%_done/intro",
    "/docs/100%Xdone",
    "/docs/100X_done",
    "/files/[id]x/a.v1",
    "/files/[id]/b.v1",
    "/files/i/c.v1",
    "/files/[id]x/av1",
    "/",
    "/Reports/1",
]
STATUSES = ["customer", "Lead", "PROSPECT", "churned", "lead"]


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    zone: str
    as_of: date
    days: int  # how far back the traffic reaches
    stickiness: str
    core: bool = True
    accounts: int = 10
    users: int = 40
    quirks: bool = False  # SDK oddities on top (Traffic.quirks)
    products: int = 1
    settle: bool = False  # compute every product once before the compared runs


SCENARIOS = [
    # W holds the March shift, H' the November one of the year before
    Scenario("new_york_spring", 11, "America/New_York", date(2026, 3, 20), 200, "dau"),
    Scenario("new_york_fall", 12, "America/New_York", date(2026, 11, 15), 100, "wau", users=30),
    Scenario("london", 13, "Europe/London", date(2026, 4, 12), 100, "wau", accounts=8),
    # 30-minute shift
    Scenario("lord_howe", 14, "Australia/Lord_Howe", date(2026, 4, 20), 110, "dau", users=25),
    # +12:45/+13:45, no core items: CFU and score null, "Not configured"
    Scenario("chatham", 15, "Pacific/Chatham", date(2026, 10, 10), 100, "wau", core=False),
    # the shift is at local midnight: a day that starts at 01:00, an hour lived twice
    Scenario("santiago", 16, "America/Santiago", date(2026, 9, 20), 180, "dau", users=30),
    # the October shift, with SDK oddities
    Scenario("quirks", 17, "Europe/London", date(2026, 11, 5), 90, "wau", users=25, quirks=True),
    # two products of one organization: memberships, accounts and Last Seen span both;
    # every product computed for the day before the compared runs
    Scenario(
        "two_products",
        18,
        "America/New_York",
        date(2026, 11, 12),
        100,
        "dau",
        products=2,
        settle=True,
    ),
]
# The same traffic with each product computed once, app before mobile, as the nightly
# queue may run them: app's run reads mobile's daily rollups before mobile's run made them
# for the day (stale Last Seen, context.groupId-only users of mobile missing); mobile's run
# then refreshes app's Last Seen and Total Users (evaluate.siblings_refresh).
STALE_SIBLINGS = Scenario(
    "two_products_in_turn", 18, "America/New_York", date(2026, 11, 12), 100, "dau", products=2
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_start(zone: ZoneInfo, day: date) -> datetime:
    """The first instant (UTC) whose local date is `day`; offsets are whole minutes."""
    low = datetime.combine(day, time(), UTC) - timedelta(hours=15)
    high = low + timedelta(hours=30)
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        middle = middle.replace(second=0, microsecond=0)
        if middle.astimezone(zone).date() >= day:
            high = middle
        else:
            low = middle
    return high


def shifts(zone: ZoneInfo, start: date, end: date) -> list[datetime]:
    """UTC instants where the zone's offset changes between `start` and `end`."""
    moment = datetime.combine(start, time(), UTC)
    stop = datetime.combine(end, time(), UTC)
    found = []
    offset = moment.astimezone(zone).utcoffset()
    while moment < stop:
        moment += timedelta(minutes=15)
        now = moment.astimezone(zone).utcoffset()
        if now != offset:
            found.append(moment)
            offset = now
    return found


class Traffic:
    """(arrival, message) pairs for one scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.zone = ZoneInfo(scenario.zone)
        self.messages: list[tuple[datetime, dict]] = []
        self.counter = 0
        self.first = day_start(self.zone, scenario.as_of - timedelta(days=scenario.days))
        self.end = day_start(self.zone, scenario.as_of + timedelta(days=1))  # end of D
        self.shift_days = sorted(
            {
                (at + delta).astimezone(self.zone).date()
                for at in shifts(
                    self.zone, scenario.as_of - timedelta(days=scenario.days), scenario.as_of
                )
                for delta in (timedelta(hours=-25), timedelta(0), timedelta(hours=25))
            }
        )
        assert self.shift_days, f"{scenario.zone} has no shift in the range"

    def add(self, at: datetime, message: dict, *, delay: timedelta | None = None) -> dict:
        self.counter += 1
        message = {"messageId": f"{self.s.name}-{self.counter}", **message}
        if delay is None:
            delay = timedelta(minutes=self.rng.choice([1, 1, 1, 5, 60, 60 * 30]))
        self.messages.append((at + delay, message))
        return message

    def when(self, at: datetime) -> dict:
        """The message's time, in one of the forms SPEC section 2 reads."""
        roll = self.rng.random()
        if roll < 0.9:
            return {"timestamp": _iso(at)}
        if roll < 0.97:
            # a device clock off by `skew`: receivedAt - (sentAt - originalTimestamp) = at
            skew = timedelta(
                seconds=self.rng.randint(-900, 900), milliseconds=self.rng.randint(0, 999)
            )
            sent = at + timedelta(seconds=self.rng.randint(1, 30))
            return {
                "originalTimestamp": _iso(at + skew),
                "sentAt": _iso(sent + skew),
                "receivedAt": _iso(sent),
            }
        if roll < 0.99:
            return {"originalTimestamp": _iso(at)}
        return {}  # the receive time

    def account_traits(self, account: str, number: int) -> dict:
        traits: dict = {"name": f"Account {number}", "status": self.rng.choice(STATUSES)}
        created = self.rng.random()
        start = self.s.as_of - timedelta(days=70)
        if created < 0.4:
            traits["createdAt"] = (start + timedelta(days=self.rng.randint(0, 70))).isoformat()
        elif created < 0.6:
            # a datetime near local midnight: its day is the organization's local day
            day = self.rng.choice(
                [*self.shift_days, start + timedelta(days=self.rng.randint(0, 70))]
            )
            at = day_start(self.zone, day) + timedelta(minutes=self.rng.choice([-20, 10]))
            traits["createdAt"] = _iso(at)
        return traits

    def build(self) -> list[tuple[datetime, dict]]:
        rng, s = self.rng, self.s
        accounts = [f"acc_{n:02d}" for n in range(s.accounts)]
        for number, account in enumerate(accounts[:-1]):
            # the last account is only ever named by context.groupId
            at = self.first + timedelta(
                days=rng.randint(0, s.days // 3), minutes=rng.randint(0, 1439)
            )
            self.add(
                at,
                {
                    "type": "group",
                    "userId": f"admin_{account}",
                    "groupId": account,
                    "traits": self.account_traits(account, number),
                    **self.when(at),
                },
            )
            if rng.random() < 0.5:  # a later group call overrides some traits
                later = at + timedelta(
                    days=rng.randint(1, s.days // 2), seconds=rng.randint(0, 9999)
                )
                traits = {"status": rng.choice(STATUSES)}
                if rng.random() < 0.4:
                    traits["createdAt"] = (s.as_of - timedelta(days=rng.randint(0, 45))).isoformat()
                if rng.random() < 0.3:
                    traits["name"] = f"Renamed {number}"
                self.add(
                    later,
                    {
                        "type": "group",
                        "userId": f"admin_{account}",
                        "groupId": account,
                        "traits": traits,
                        **self.when(later),
                    },
                )

        users = [f"user_{n:03d}" for n in range(s.users)]
        for user in users:
            self.user_traffic(user, accounts)
        self.midnight_traffic(users, accounts)
        self.noise(users, accounts)
        if s.quirks:
            self.quirks(users, accounts)
        return sorted(self.messages, key=lambda pair: pair[0])

    def membership(
        self, user: str, account: str, at: datetime, *, delay: timedelta | None = None
    ) -> None:
        if self.rng.random() < 0.2:
            message = {"type": "identify", "userId": user, "traits": {"accountId": account}}
        else:
            message = {"type": "group", "userId": user, "groupId": account}
        self.add(at, {**message, **self.when(at)}, delay=delay)

    def user_traffic(self, user: str, accounts: list[str]) -> None:
        rng, s = self.rng, self.s
        joined = self.first + timedelta(
            days=rng.randint(0, s.days - 20), minutes=rng.randint(0, 1439)
        )
        kind = rng.random()
        if kind < 0.08:
            pass  # never joins: only context.groupId events count
        elif kind < 0.13:
            # joins only after the as-of day: rule 3 attributes everything to it
            self.membership(
                user, rng.choice(accounts[:-1]), self.end + timedelta(hours=rng.randint(1, 30))
            )
        else:
            # group calls arrive late, some dated after the first events (rule 3)
            late = timedelta(days=rng.choice([0, 0, 0, 2, 15]), minutes=1)
            self.membership(user, rng.choice(accounts[:-1]), joined, delay=late)
            if rng.random() < 0.35:  # moves on, sometimes back
                moved = joined + timedelta(
                    days=rng.randint(3, s.days), seconds=rng.randint(0, 86399)
                )
                self.membership(user, rng.choice(accounts[:-1]), moved, delay=late)
        first = joined - timedelta(days=rng.choice([0, 0, 0, 3]))
        for _ in range(rng.randint(6, 22)):
            at = first + timedelta(days=rng.randint(0, s.days), seconds=rng.randint(0, 86399))
            self.session(user, at, accounts)

    def session(self, user: str, at: datetime, accounts: list[str]) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 8)):
            self.add(at, {**self.activity(user, accounts), **self.when(at)})
            gap = rng.choice([0, 1, 60, 600, 1799.999, 1800, 1800.001, 1860, 7200])
            at += timedelta(seconds=gap)

    def activity(self, user: str, accounts: list[str]) -> dict:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            message: dict = {"type": "track", "userId": user, "event": rng.choice(TRACKS)}
        else:
            path = rng.choice(PAGES)
            kind = "page" if roll < 0.85 else "screen"
            message = {"type": kind, "userId": user, "name": "Page"}
            carrier = rng.random()
            if carrier < 0.5:
                message["properties"] = {"path": path}
            elif carrier < 0.8:
                message["context"] = {"page": {"path": path}}
            elif "?" not in path and "%" not in path:
                message["properties"] = {"url": f"https://app.example.com{path}?q=1#top"}
            else:
                message["properties"] = {"path": path}
        if rng.random() < 0.06:
            message.setdefault("context", {})["groupId"] = rng.choice(accounts)
        return message

    def midnight_traffic(self, users: list[str], accounts: list[str]) -> None:
        """Events at the edges of local days around every shift, sessions across them."""
        rng = self.rng
        for day in self.shift_days:
            start = day_start(self.zone, day)
            for offset in (timedelta(milliseconds=-1), timedelta(0), timedelta(milliseconds=1)):
                user = rng.choice(users)
                self.add(
                    start + offset, {**self.activity(user, accounts), **self.when(start + offset)}
                )
            # a session that starts before local midnight and runs past it
            self.session(rng.choice(users), start - timedelta(minutes=rng.randint(1, 40)), accounts)
        for at in shifts(self.zone, self.s.as_of - timedelta(days=self.s.days), self.s.as_of):
            # and one across the shift instant itself
            self.session(rng.choice(users), at - timedelta(minutes=rng.randint(1, 50)), accounts)
        # the last and first milliseconds of the as-of day's end, and a group call at the
        # same instant as an event (rule 2: `<= t`)
        user = rng.choice(users)
        for at in (self.end - timedelta(milliseconds=1), self.end):
            self.add(at, {**self.activity(user, accounts), **self.when(at)})
        same = self.end - timedelta(days=3, hours=5)
        self.add(
            same, {"type": "group", "userId": user, "groupId": accounts[0], "timestamp": _iso(same)}
        )
        self.add(
            same, {"type": "track", "userId": user, "event": "Invite Sent", "timestamp": _iso(same)}
        )

    def noise(self, users: list[str], accounts: list[str]) -> None:
        rng = self.rng
        for n in range(30):  # anonymous traffic: stored, in no account metric
            at = self.first + timedelta(
                days=rng.randint(0, self.s.days), minutes=rng.randint(0, 1439)
            )
            message = {"type": "track", "anonymousId": f"anon-{n % 7}", "event": rng.choice(TRACKS)}
            self.add(at, {**message, "timestamp": _iso(at)})
        for _ in range(25):  # duplicates, some with other contents: the first one wins
            arrival, original = rng.choice(self.messages)
            copy = dict(original)
            if rng.random() < 0.5 and copy["type"] == "track":
                copy["event"] = "Changed On Resend"
            self.messages.append((arrival + timedelta(hours=rng.choice([0, 1, 50])), copy))
        for n in range(3):  # malformed: rejected, nothing else lost
            at = self.first + timedelta(days=n)
            self.messages.append(
                (at, {"type": "teleport", "userId": users[0], "messageId": f"bad-{n}"})
            )
            self.messages.append(
                (at, {"type": "track", "userId": users[0], "messageId": f"bad-t{n}"})
            )

    def quirks(self, users: list[str], accounts: list[str]) -> None:
        rng, d = self.rng, self.end - timedelta(days=1)

        def track(user: str, at: datetime, **extra: object) -> None:
            self.add(at, {"type": "track", "userId": user, "event": "Invite Sent", **extra})

        # an empty context.groupId is no account: the membership decides
        track(
            users[1],
            d - timedelta(days=2),
            timestamp=_iso(d - timedelta(days=2)),
            context={"groupId": ""},
        )
        # offsets other than Z, none at all (UTC), microseconds
        at = d - timedelta(days=3, hours=2)
        track(users[2], at, timestamp=at.astimezone(ZoneInfo("America/Denver")).isoformat())
        at = d - timedelta(days=4, hours=7)
        track(users[3], at, timestamp=at.replace(tzinfo=None).isoformat(timespec="seconds"))
        at = d - timedelta(days=5, microseconds=rng.randint(1, 999999))
        track(users[4], at, timestamp=at.isoformat())
        # a user's group call carries traits too: they merge with the admin's
        at = d - timedelta(days=6)
        self.add(
            at,
            {
                "type": "group",
                "userId": users[5],
                "groupId": accounts[1],
                "traits": {"plan": "Pro", "status": "Prospect"},
                "timestamp": _iso(at),
            },
        )
        # createdAt as a datetime without offset (UTC) and as something unreadable
        at = d - timedelta(days=40)
        self.add(
            at,
            {
                "type": "group",
                "userId": users[6],
                "groupId": accounts[2],
                "traits": {"createdAt": "2026-10-20T23:30:00"},
                "timestamp": _iso(at),
            },
        )
        self.add(
            at,
            {
                "type": "group",
                "userId": users[7],
                "groupId": "acc_odd",
                "traits": {"createdAt": "soon"},
                "timestamp": _iso(at),
            },
        )

        # numeric ids are read as their digits; 1001 and "1001" are one user
        at = d - timedelta(days=7)
        self.add(at, {"type": "group", "userId": 1001, "groupId": 77, "timestamp": _iso(at)})
        for n, user in enumerate([1001, "1001"]):
            at = d - timedelta(days=n + 1, hours=3)
            track(user, at, timestamp=_iso(at), context={"groupId": 42} if n else {})
        self.add(
            at,
            {
                "type": "identify",
                "userId": users[8],
                "traits": {"accountId": 77},
                "timestamp": _iso(at),
            },
        )
        # a type in capitals, a null timestamp, blanks around a time, an empty path
        at = d - timedelta(days=8, hours=1)
        self.add(
            at, {"type": "Track", "userId": users[9], "event": "Searched", "timestamp": _iso(at)}
        )
        self.add(
            at,
            {
                "type": "track",
                "userId": users[9],
                "event": "Invite Sent",
                "timestamp": None,
                "originalTimestamp": _iso(at),
            },
        )
        self.add(
            at,
            {
                "type": "page",
                "userId": users[9],
                "timestamp": f" {_iso(at)} ",
                "properties": {"path": ""},
                "context": {"page": {"path": "/dashboards/x"}},
            },
        )
        self.add(
            at,
            {
                "type": "page",
                "userId": users[9],
                "timestamp": _iso(at),
                "properties": {"url": "https://app.example.com"},
            },
        )
        # rejected: a blank event name, a groupId that is neither string nor integer
        self.add(at, {"type": "track", "userId": users[9], "event": "  ", "timestamp": _iso(at)})
        self.add(
            at,
            {
                "type": "track",
                "userId": users[9],
                "event": "Searched",
                "context": {"groupId": 4.5},
                "timestamp": _iso(at),
            },
        )
        # identify traits describe the person, not the account
        self.add(
            at,
            {
                "type": "identify",
                "userId": users[2],
                "traits": {"accountId": accounts[3], "status": "lead", "name": "Person"},
                "timestamp": _iso(at),
            },
        )
        # anonymous traffic naming an account: stored, no account metric
        self.add(
            at,
            {
                "type": "track",
                "anonymousId": "anon-x",
                "event": "Invite Sent",
                "context": {"groupId": "acc_anon"},
                "timestamp": _iso(at),
            },
        )
        # RudderStack: an identify without traits of its own takes context.traits; with
        # traits of its own, context.traits are ignored
        at = d - timedelta(days=9, hours=2)
        self.add(
            at,
            {
                "type": "identify",
                "userId": users[11],
                "context": {"traits": {"accountId": accounts[4]}},
                "timestamp": _iso(at),
            },
        )
        self.add(
            at + timedelta(hours=1),
            {
                "type": "identify",
                "userId": users[12],
                "traits": {"email": "x@y.z"},
                "context": {"traits": {"accountId": accounts[5]}},
                "timestamp": _iso(at + timedelta(hours=1)),
            },
        )
        for user in users[11:13]:
            track(user, at + timedelta(hours=2), timestamp=_iso(at + timedelta(hours=2)))
        # far in the future: the receive time; before 2000 or unreadable: rejected
        self.add(
            at,
            {
                "type": "track",
                "userId": users[10],
                "event": "Searched",
                "timestamp": "2031-01-01T00:00:00Z",
            },
        )
        self.add(
            at,
            {
                "type": "track",
                "userId": users[10],
                "event": "Searched",
                "timestamp": "1999-12-31T23:59:59Z",
            },
        )
        self.add(
            at,
            {
                "type": "track",
                "userId": users[10],
                "event": "Searched",
                "timestamp": "yesterday",
                "originalTimestamp": _iso(at),
            },
        )
        # an anonymous visitor who is also identified: the userId counts
        self.add(
            at,
            {
                "type": "page",
                "userId": users[10],
                "anonymousId": "anon-y",
                "properties": {"path": "/reports/9"},
                "timestamp": _iso(at),
            },
        )
        # a new user whose only group call is dated after D: rule 3 gives their activity
        # to an account first named after D, which is not in the portfolio of D
        at = d - timedelta(days=2)
        self.add(at, {"type": "track", "userId": "newbie", "event": "Noise", "timestamp": _iso(at)})
        later = self.end + timedelta(hours=3)
        self.add(
            later,
            {
                "type": "group",
                "userId": "newbie",
                "groupId": "acc_future",
                "timestamp": _iso(later),
            },
        )


def config_for(scenario: Scenario, as_of: date, product: str = "app") -> dict:
    config = {
        "organization": {
            "slug": scenario.name.replace("_", "-"),
            "name": scenario.name,
            "timezone": scenario.zone,
        },
        "product": {"key": product, "name": product.title()},
        "as_of": as_of.isoformat(),
        "features": FEATURES,
        "settings": {
            "core_items": CORE_ITEMS if scenario.core else [],
            "stickiness": scenario.stickiness,
            # 50 is a CFU a user with 2 of 4 items reaches exactly: `below` excludes it
            "thresholds": {
                "core_feature_usage": [50, 75],
                "active_user_coverage": [40, 70],
                "stickiness": [10, 20],
                "product_score": [25, 45],
            },
        },
    }
    if product != "app":  # the second product: its own catalog, core items and mode
        config["features"] = FEATURES[3:9]
        config["settings"] |= {
            "core_items": [{"label": "core"}, {"module": "Docs"}],
            "stickiness": "dau" if scenario.stickiness == "wau" else "wau",
        }
    return config
