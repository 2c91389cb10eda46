from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from health.catalog import ConfigError
from settings_admin.services import config_file_import


class Command(BaseCommand):
    help = "Create or update an organization, product, feature catalog and health settings."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            product = config_file_import(data=data)
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Imported {product.organization.slug}/{product.key}")
