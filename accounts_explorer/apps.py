from django.apps import AppConfig


class AccountsExplorerConfig(AppConfig):
    name = "accounts_explorer"
