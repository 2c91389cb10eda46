"""Reports under /o/<org>/p/<product>/ (the tenant middleware checks membership)."""

from django.urls import path

from accounts_explorer import groupby

urlpatterns = [
    path("report/group-by/", groupby.groupby_report, name="groupby_report"),
]
