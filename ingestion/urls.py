"""Segment's tracking API, mounted at /v1/."""

from django.urls import path

from ingestion import api

urlpatterns = [
    path("batch", api.batch, name="ingest_batch"),
    path("b", api.batch, name="ingest_batch_alias"),
    path("identify", api.identify, name="ingest_identify"),
    path("group", api.group, name="ingest_group"),
    path("track", api.track, name="ingest_track"),
    path("page", api.page, name="ingest_page"),
    path("screen", api.screen, name="ingest_screen"),
]
