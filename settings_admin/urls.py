from django.urls import include, path

from settings_admin import views, views_catalog, views_product

# Under /o/<org_slug>/settings/products/<product_key>/: the middleware resolves the product.
product_patterns = [
    path("", views_product.account_settings, name="account_settings"),
    path("save/", views_product.account_settings_save, name="account_settings_save"),
    path("status/", views_product.run_status, name="run_status"),
    path("config.json", views_product.config_download, name="config_download"),
    path("config/import/", views_product.config_upload, name="config_upload"),
    path("catalog/", views_catalog.catalog, name="catalog"),
    path("catalog/preview/", views_catalog.rule_preview, name="rule_preview"),
    path("catalog/features/new/", views_catalog.feature_new, name="feature_new"),
    path("catalog/features/create/", views_catalog.feature_create, name="feature_create"),
    path("catalog/features/<int:feature_id>/", views_catalog.feature_edit, name="feature_edit"),
    path(
        "catalog/features/<int:feature_id>/update/",
        views_catalog.feature_update,
        name="feature_update",
    ),
    path(
        "catalog/features/<int:feature_id>/move/", views_catalog.feature_move, name="feature_move"
    ),
    path(
        "catalog/features/<int:feature_id>/delete/",
        views_catalog.feature_delete,
        name="feature_delete",
    ),
    path("catalog/modules/create/", views_catalog.module_create, name="module_create"),
    path(
        "catalog/modules/<int:module_id>/delete/", views_catalog.module_delete, name="module_delete"
    ),
]

urlpatterns = [
    path("", views.settings_home, name="settings_home"),
    path("members/add/", views.member_add, name="member_add"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("write-keys/create/", views.write_key_create, name="write_key_create"),
    path("write-keys/<int:write_key_id>/revoke/", views.write_key_revoke, name="write_key_revoke"),
    path("timezone/", views.timezone_update, name="timezone_update"),
    path("audit/", views.audit_log, name="audit_log"),
    path("account/", views_product.account_settings_home, name="account_settings_home"),
    path("catalog/", views_product.catalog_home, name="catalog_home"),
    path("quarantine/", views.quarantine, name="quarantine"),
    path("health-runs/", views.health_runs, name="health_runs"),
    path("products/<slug:product_key>/", include(product_patterns)),
]
