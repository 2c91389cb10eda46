"""Account drill-down and user pages (under /o/<org>/p/<product>/)."""

urlpatterns: list = []
