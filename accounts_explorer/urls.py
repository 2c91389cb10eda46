from django.urls import path

from accounts_explorer import views

urlpatterns = [
    path("", views.explorer, name="explorer"),
]
