from __future__ import annotations

from django.core.management.base import BaseCommand

from health.scheduling import health_runs_due


class Command(BaseCommand):
    help = (
        "Queue the health run of local yesterday for every product that has none yet "
        "(what the beat task health.schedule_due does every five minutes)."
    )

    def handle(self, *args, **options) -> None:
        runs = health_runs_due()
        for run in runs:
            organization = run.product.organization
            self.stdout.write(
                f"Queued run {run.pk}: {organization.slug}/{run.product.key} as of {run.as_of}"
            )
        self.stdout.write(f"{len(runs)} run(s) queued.")
