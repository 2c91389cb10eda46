"""Segment's tracking API, mounted at /v1/ (and the batch at /beacon/v1/batch).

Besides the full names, the paths the SDKs use: analytics.js posts each call to the
initial of its type (`/v1/t`, `/v1/p`, ...) and batches to `/v1/b`; the older server
SDKs (Java, Ruby) batch to `/v1/import`; RudderStack's JS
SDK sends `navigator.sendBeacon` batches to `/beacon/v1/batch?writeKey=...`. `alias` is
not a type Vitals takes: its paths answer 200 with the message rejected and its reason
(kept in quarantine), so an SDK does not retry it forever.
"""

from django.urls import path

from ingestion import api

urlpatterns = [
    path("batch", api.batch, name="ingest_batch"),
    path("b", api.batch, name="ingest_batch_alias"),
    # The older server SDKs' batch path (analytics-java posts to `v1/import/`).
    path("import", api.batch, name="ingest_import"),
    path("import/", api.batch, name="ingest_import_slash"),
    path("identify", api.identify, name="ingest_identify"),
    path("group", api.group, name="ingest_group"),
    path("track", api.track, name="ingest_track"),
    path("page", api.page, name="ingest_page"),
    path("screen", api.screen, name="ingest_screen"),
    path("alias", api.alias, name="ingest_alias"),
    path("i", api.identify, name="ingest_identify_short"),
    path("g", api.group, name="ingest_group_short"),
    path("t", api.track, name="ingest_track_short"),
    path("p", api.page, name="ingest_page_short"),
    path("s", api.screen, name="ingest_screen_short"),
    path("a", api.alias, name="ingest_alias_short"),
]
