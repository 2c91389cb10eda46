from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm


class EmailLoginForm(AuthenticationForm):
    """Logins are email addresses, stored lowercased: accept any case."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account.",
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()
