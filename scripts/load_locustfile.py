"""Locust users for `make load` (scripts/load.py runs locust headless on this file).

IngestUser posts 500-message Segment batches to /v1/batch on LOAD_INGEST_HOST (the ingest
server, as SDKs reach compose's `ingest` service), paced so that all of them together send
LOAD_RATE events per second (a user that fell behind catches up); ExplorerUser logs in
through the login form of LOAD_WEB_HOST (the web server) and opens explorer pages. Both
speak HTTP only. When locust quits, the counts and latencies go to the JSON file
LOAD_SUMMARY.
"""

from __future__ import annotations

import base64
import os
import random
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from locust import HttpUser, events, task
from locust.env import Environment

RATE = float(os.environ.get("LOAD_RATE", "1000"))  # events per second, all users together
BATCH = int(os.environ.get("LOAD_BATCH", "500"))
INGEST_USERS = int(os.environ.get("LOAD_INGEST_USERS", "4"))
EXPLORER_USERS = int(os.environ.get("LOAD_EXPLORER_USERS", "2"))
EXPLORER_PAGES_PER_SECOND = float(os.environ.get("LOAD_EXPLORER_RATE", "1"))  # per user
WRITE_KEY = os.environ.get("LOAD_WRITE_KEY", "")
# Each user class has its own server; locust's --host would send both classes to one.
INGEST_HOST = os.environ.get("LOAD_INGEST_HOST") or None
WEB_HOST = os.environ.get("LOAD_WEB_HOST") or None
EXPLORER_PATH = os.environ.get("LOAD_EXPLORER_PATH", "/o/demo/p/web/")
LOGIN_EMAIL = os.environ.get("LOAD_LOGIN_EMAIL", "admin@demo.test")
LOGIN_PASSWORD = os.environ.get("LOAD_LOGIN_PASSWORD", "vitals-demo")
SUMMARY_PATH = os.environ.get("LOAD_SUMMARY", "")
RUN_ID = os.environ.get("LOAD_RUN_ID", str(int(time.time())))
REQUEST_TIMEOUT = 60
BUCKET_SECONDS = 10

USERS = 20_000
ACCOUNTS = 1_000
TRACK_EVENTS = [f"Feature {i} Used" for i in range(40)]
PAGE_PATHS = [f"/app/section-{i}" for i in range(30)]
# The explorer views a person clicks through: (name, query string, htmx table partial?).
EXPLORER_VIEWS = [
    ("explorer page", "", False),
    ("explorer table", "", True),
    ("explorer table: at risk by score", "?health=at-risk&sort=score", True),
    ("explorer table: search, by name", "?q=a&sort=name", True),
    ("explorer table: page 2", "?page=2", True),
]

state: dict[str, Any] = {
    "started": None,
    "seconds": None,  # from the test's start to its stop
    "sequence": 0,
    "batches": 0,
    "messages_sent": 0,
    "accepted": 0,
    "duplicate": 0,
    "rejected": 0,
    "errors": [],
    # [first messageId, last messageId] of each batch sent but never answered: a user
    # stopped at the end of the run mid-request. Stored wholly or not at all (load.py).
    "unanswered": [],
    "accepted_per_bucket": {},
    "batch_ms": [],
    "explorer_ms": [],
    "explorer_requests": 0,
}


def _message_id(sequence: int) -> str:
    return f"load-{RUN_ID}-{sequence:010d}"  # zero-padded: ranges compare as text


def _message(rng: random.Random, now: datetime) -> dict[str, Any]:
    state["sequence"] += 1
    user = int(USERS * rng.random() ** 2)
    at = now - timedelta(seconds=rng.uniform(0, 600))
    message: dict[str, Any] = {
        "userId": f"user-{user:06d}",
        "messageId": _message_id(state["sequence"]),
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "context": {"library": {"name": "analytics-python", "version": "2.3.1"}},
    }
    roll = rng.random()
    if roll < 0.05:
        account = user % ACCOUNTS
        message |= {
            "type": "group",
            "groupId": f"acct-{account:05d}",
            "traits": {"name": f"Account {account}", "plan": rng.choice(["free", "pro"])},
        }
    elif roll < 0.08:
        message |= {"type": "identify", "traits": {"email": f"user{user}@example.com"}}
    elif roll < 0.68:
        event = TRACK_EVENTS[int(len(TRACK_EVENTS) * rng.random() ** 2)]
        message |= {"type": "track", "event": event, "properties": {"value": user % 97}}
    else:
        path = PAGE_PATHS[int(len(PAGE_PATHS) * rng.random() ** 2)]
        message |= {"type": "page", "properties": {"path": path, "title": path}}
    return message


class PacedUser(HttpUser):
    """Runs its task `per_second` times a second on a fixed schedule: a slow answer is
    followed by the next request at once until the user is back on schedule."""

    abstract = True
    per_second = 1.0
    _instances = 0

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        type(self)._instances += 1
        # Spread the users' schedules over one period, so they do not fire together.
        offset = (type(self)._instances - 1) / max(1, self.fixed_count) / self.per_second
        self._next = time.monotonic() + offset

    def wait_time(self) -> float:
        self._next += 1 / self.per_second
        return max(0.0, self._next - time.monotonic())


class IngestUser(PacedUser):
    host = INGEST_HOST
    fixed_count = INGEST_USERS
    per_second = RATE / BATCH / INGEST_USERS

    def on_start(self) -> None:
        self.rng = random.Random(f"{RUN_ID}-{id(self)}")
        token = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    @task
    def post_batch(self) -> None:
        now = datetime.now(UTC)
        body = orjson.dumps({"batch": [_message(self.rng, now) for _ in range(BATCH)]})
        pending = [_message_id(state["sequence"] - BATCH + 1), _message_id(state["sequence"])]
        state["unanswered"].append(pending)
        state["batches"] += 1
        state["messages_sent"] += BATCH
        started = time.perf_counter()
        with self.client.post(
            "/v1/batch",
            data=body,
            headers=self.headers,
            name="POST /v1/batch",
            timeout=REQUEST_TIMEOUT,
            catch_response=True,
        ) as response:
            state["unanswered"].remove(pending)  # an answer, whatever it says
            state["batch_ms"].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                _error(response, f"HTTP {response.status_code}: {response.text[:200]}")
                return
            result = response.json()
            for key in ("accepted", "duplicate", "rejected"):
                state[key] += result[key]
            bucket = int((time.monotonic() - state["started"]) // BUCKET_SECONDS)
            per_bucket = state["accepted_per_bucket"]
            per_bucket[bucket] = per_bucket.get(bucket, 0) + result["accepted"]
            if result["accepted"] != BATCH:
                _error(response, f"accepted {result['accepted']} of {BATCH}: {result}"[:300])


class ExplorerUser(PacedUser):
    host = WEB_HOST
    fixed_count = EXPLORER_USERS
    per_second = EXPLORER_PAGES_PER_SECOND

    def on_start(self) -> None:
        self.rng = random.Random(f"{RUN_ID}-explorer-{id(self)}")
        login = self.client.get("/login/", name="login form", timeout=REQUEST_TIMEOUT)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        with self.client.post(
            "/login/",
            data={
                "username": LOGIN_EMAIL,
                "password": LOGIN_PASSWORD,
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            name="login",
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                _error(response, f"login answered {response.status_code}")

    @task
    def open_view(self) -> None:
        name, query, htmx = self.rng.choice(EXPLORER_VIEWS)
        headers = {"HX-Request": "true", "HX-Target": "explorer-table"} if htmx else {}
        started = time.perf_counter()
        with self.client.get(
            EXPLORER_PATH + query,
            headers=headers,
            name=name,
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
            catch_response=True,
        ) as response:
            elapsed = (time.perf_counter() - started) * 1000
            state["explorer_ms"].append(elapsed)
            state["explorer_requests"] += 1
            if response.status_code != 200:
                _error(response, f"{name}: HTTP {response.status_code}")
            elif "<table" not in response.text and "<tr" not in response.text:
                _error(response, f"{name}: no table in the answer")


def _error(response: Any, text: str) -> None:
    response.failure(text)
    state["errors"].append(text)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **kwargs: Any) -> None:
    state["started"] = time.monotonic()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **kwargs: Any) -> None:
    if state["started"] is not None:
        state["seconds"] = time.monotonic() - state["started"]


@events.quitting.add_listener
def _on_quitting(environment: Environment, **kwargs: Any) -> None:
    if not SUMMARY_PATH:
        return
    summary = {
        **state,
        "errors": state["errors"][:50],
        "error_count": len(state["errors"]),
        "locust_failures": environment.stats.total.num_failures,
        "locust_requests": environment.stats.total.num_requests,
    }
    with open(SUMMARY_PATH, "wb") as handle:
        handle.write(orjson.dumps(summary, option=orjson.OPT_NON_STR_KEYS))
