"""The OpenAPI schema validates, and schemathesis, run in-process against it with a valid
token, finds no server error."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings

EXAMPLES_PER_OPERATION = 12


def test_it_generates_a_valid_openapi_schema(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)  # drf-spectacular's OpenAPI 3 JSON Schema check; raises
    assert set(schema["paths"]) == {
        "/api/v1/products/",
        "/api/v1/products/{product_key}/",
        "/api/v1/products/{product_key}/portfolio/",
        "/api/v1/products/{product_key}/accounts/",
        "/api/v1/products/{product_key}/accounts/{account_id}/",
        "/api/v1/products/{product_key}/accounts/{account_id}/history/",
    }
    assert schema["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"


@pytest.mark.django_db
def test_it_serves_the_schema(client):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Vitals API"


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
def test_schemathesis_finds_no_server_error(alice_api, in_process_wsgi):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", in_process_wsgi)
    headers = {"Authorization": f"Bearer {alice_api.raw_token}"}
    failures: list[str] = []
    statuses: set[int] = set()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:
            response = case.call(headers=headers)
            statuses.add(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query}")

        run()
    assert failures == []
    assert 200 in statuses and 401 not in statuses  # the token was sent and accepted
