from django.urls import include, path

from accounts_explorer import views

urlpatterns = [
    path("", views.explorer, name="explorer"),
    # The account drill-down and user pages live in their own module.
    path("", include("accounts_explorer.account_urls")),
]
