from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "vitals.tenancy"
    label = "tenancy"
    verbose_name = "Organizations and products"
