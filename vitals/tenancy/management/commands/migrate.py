"""Django's migrate, run as the owner role: migrations create and alter the tables."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand

from vitals.tenancy.rls import owner_session


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        with owner_session():
            super().handle(*args, **options)
