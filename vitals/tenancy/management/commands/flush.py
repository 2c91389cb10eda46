"""Django's flush, run as the owner role: TRUNCATE is the owner's (and ignores row-level
security, so the application role is not granted it). The test runner flushes with it."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand

from vitals.tenancy.rls import owner_session


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        with owner_session():
            super().handle(**options)
