from django.urls import path

from settings_admin import views

urlpatterns = [
    path("", views.settings_home, name="settings_home"),
]
