from django.apps import AppConfig


class SettingsAdminConfig(AppConfig):
    name = "settings_admin"
