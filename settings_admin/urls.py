from django.urls import path

from settings_admin import views

urlpatterns = [
    path("", views.settings_home, name="settings_home"),
    path("quarantine/", views.quarantine, name="quarantine"),
    path("health-runs/", views.health_runs, name="health_runs"),
]
