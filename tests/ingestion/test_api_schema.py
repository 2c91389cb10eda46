"""The tracking API's OpenAPI description (ingestion/openapi.yaml) is valid, names every
/v1/ route, and schemathesis, run in-process against it with a write key, finds no server
error and no answer that breaks the description: every refusal and every rejected message
carries its reason."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import schemathesis
import yaml
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import get_resolver
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from vitals.tenancy.services import write_key_create

DESCRIPTION = Path(__file__).resolve().parents[2] / "ingestion" / "openapi.yaml"
EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _description() -> dict:
    return yaml.safe_load(DESCRIPTION.read_text())


def test_it_is_a_valid_openapi_description(db):
    validate_schema(_description())  # drf-spectacular's OpenAPI 3 JSON Schema check


def test_it_describes_every_tracking_route_and_no_other():
    resolver = get_resolver()
    routes = {
        f"/v1/{pattern.pattern}"
        for entry in resolver.url_patterns
        if str(entry.pattern) == "v1/"
        for pattern in entry.url_patterns
    } | {
        f"/{entry.pattern}"
        for entry in resolver.url_patterns
        if getattr(entry, "name", None) and entry.name.startswith("ingest_")
    }
    assert set(_description()["paths"]) == routes


@pytest.fixture
def in_process_wsgi():
    """Requests run inside the test's transaction, as Django's test client runs them."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_error_or_reasonless_refusal(product, in_process_wsgi, mode):
    raw_key = write_key_create(product=product)[1]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{raw_key}:".encode()).decode()}
    schema = schemathesis.openapi.from_dict(_description())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(_description()["paths"])  # every path loaded
    failures: list[str] = []
    statuses: set[int] = set()

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case) -> None:
            response = case.call(app=in_process_wsgi, headers=auth)
            statuses.add(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # each check failure is collected, then all shown
                failures.append(f"{case.method} {case.path} {case.body!r:.300}: {exc}")
                return
            body = response.json()
            if response.status_code != 200:
                assert body["message"]
            for outcome in body.get("results", []):
                assert outcome["status"] != "rejected" or outcome["reason"]

        run()
    assert failures == []
    assert 200 in statuses  # the write key was sent and accepted
