"""Account drill-down and user pages (under /o/<org>/p/<product>/).

Ids are the customer's own strings and may hold slashes, hence <path:...>.
"""

from django.urls import path

from accounts_explorer import views_account

urlpatterns = [
    path("accounts/<path:account_id>/", views_account.account_detail, name="account_detail"),
    path("users/<path:user_id>/", views_account.user_detail, name="user_detail"),
]
