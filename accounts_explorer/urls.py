from django.urls import include, path

from accounts_explorer import views

urlpatterns = [
    path("", views.explorer, name="explorer"),
    path("export.csv", views.export_csv, name="explorer_export"),
    path("bookmarks/", views.bookmarks, name="bookmarks"),
    path("bookmarks/<int:bookmark_id>/", views.bookmark_open, name="bookmark_open"),
    path(
        "bookmarks/<int:bookmark_id>/<str:action>/",
        views.bookmark_change,
        name="bookmark_change",
    ),
    # The account drill-down and user pages live in their own module.
    path("", include("accounts_explorer.account_urls")),
    path("", include("accounts_explorer.report_urls")),
]
