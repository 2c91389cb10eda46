from django.contrib.auth import views as auth_views
from django.urls import include, path

from ingestion import api as ingestion_api
from vitals.tenancy import views as tenancy_views
from vitals.tenancy.forms import EmailLoginForm

urlpatterns = [
    path("", tenancy_views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=EmailLoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("o/<slug:org_slug>/", tenancy_views.organization_home, name="organization_home"),
    path("o/<slug:org_slug>/p/<slug:product_key>/", include("accounts_explorer.urls")),
    path("o/<slug:org_slug>/settings/", include("settings_admin.urls")),
    path("v1/", include("ingestion.urls")),
    # RudderStack's JS SDK: navigator.sendBeacon batches, the write key in the query string.
    path("beacon/v1/batch", ingestion_api.batch, name="ingest_beacon_batch"),
    path("api/v1/", include("api.urls")),
    path("healthz", tenancy_views.healthz, name="healthz"),
]
