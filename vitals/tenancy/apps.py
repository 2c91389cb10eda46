from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "vitals.tenancy"
    label = "tenancy"
    verbose_name = "Organizations and products"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from vitals.tenancy.rls import on_connection_created

        # Every application connection works as the row-level-security role.
        connection_created.connect(on_connection_created, dispatch_uid="vitals_rls")
