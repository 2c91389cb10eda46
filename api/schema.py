"""Tells drf-spectacular how the API authenticates, so the schema has a bearer scheme."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):  # noqa: ANN001 - drf-spectacular's hook
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `manage.py create_api_token --org <slug> --email <e>`",
        }
