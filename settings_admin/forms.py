"""Forms of the admin pages: they parse what the admin typed and keep it for a re-render
with inline errors. The services re-check every rule; these only give the errors a place."""

from __future__ import annotations

from typing import Any

from django import forms

from health.catalog import THRESHOLD_FIELDS, ConfigError, validate_core_items
from health.models import MAX_CORE_ITEMS, HealthSettings, StickinessMode
from settings_admin.selectors import METRIC_LABELS
from vitals.tenancy.models import Role


class CoreItemsField(forms.Field):
    """Ordered core items posted as repeated `core_item=kind:value` tokens."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[dict[str, str]]:
        items = []
        for token in value or []:
            kind, _, name = str(token).partition(":")
            items.append({kind: name})
        return items

    def validate(self, value: list[dict[str, str]]) -> None:
        if len(value) > MAX_CORE_ITEMS:
            raise forms.ValidationError(
                f"At most {MAX_CORE_ITEMS} core items: you picked {len(value)}. "
                "Remove some before saving."
            )
        try:
            validate_core_items(value)
        except ConfigError as exc:
            raise forms.ValidationError(str(exc)) from exc


class HealthSettingsForm(forms.Form):
    core_items = CoreItemsField(required=False)
    stickiness_mode = forms.ChoiceField(
        choices=StickinessMode.choices, widget=forms.RadioSelect, label="Stickiness"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for lower, upper in THRESHOLD_FIELDS.values():
            for name, label in ((lower, "Lower"), (upper, "Upper")):
                self.fields[name] = forms.FloatField(
                    label=label,
                    min_value=0,
                    max_value=100,
                    error_messages={"required": "Give a number from 0 to 100."},
                    widget=forms.NumberInput(attrs={"step": "any", "min": 0, "max": 100}),
                )

    @classmethod
    def initial_from(cls, health_settings: HealthSettings) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "core_items": [
                f"{kind}:{value}"
                for item in health_settings.core_items
                for kind, value in item.items()
            ],
            "stickiness_mode": health_settings.stickiness_mode,
        }
        for lower, upper in THRESHOLD_FIELDS.values():
            # 30.0 shows as 30; the number inputs take any decimal.
            initial[lower] = f"{getattr(health_settings, lower):g}"
            initial[upper] = f"{getattr(health_settings, upper):g}"
        return initial

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for lower, upper in THRESHOLD_FIELDS.values():
            low, high = cleaned.get(lower), cleaned.get(upper)
            if low is not None and high is not None and not low < high:
                self.add_error(
                    upper, f"The upper limit ({high:g}) must be above the lower one ({low:g})."
                )
        return cleaned

    def thresholds(self) -> dict[str, tuple[float, float]]:
        return {
            metric: (self.cleaned_data[lower], self.cleaned_data[upper])
            for metric, (lower, upper) in THRESHOLD_FIELDS.items()
        }

    def metric_rows(self) -> list[dict[str, Any]]:
        """One row per metric for the template: its label and two bound fields."""
        return [
            {
                "metric": metric,
                "label": METRIC_LABELS[metric],
                "lower": self[lower],
                "upper": self[upper],
                # SPEC section 6: Product Score's band names differ from the other three.
                "bands": (
                    "At Risk|Neutral|Healthy" if metric == "product_score" else "Low|Moderate|High"
                ),
            }
            for metric, (lower, upper) in THRESHOLD_FIELDS.items()
        ]

    def posted_core_tokens(self) -> list[str]:
        """The core items as the admin left them, for a re-render after an error."""
        if self.is_bound:
            return self.data.getlist("core_items")
        return list(self.initial.get("core_items", []))


class FeatureForm(forms.Form):
    key = forms.CharField(max_length=200, help_text="Stable id, used by core items and exports.")
    name = forms.CharField(max_length=300)
    module_path = forms.CharField(
        max_length=500,
        required=False,
        label="Module",
        help_text="Nest with /, e.g. Reports/Exports. New modules are created.",
    )
    labels = forms.CharField(
        max_length=1000, required=False, help_text="Comma-separated, e.g. core, beta."
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "A feature's key cannot change."

    def label_list(self) -> list[str]:
        return [label.strip() for label in self.cleaned_data["labels"].split(",") if label.strip()]


def rules_from(data: Any) -> list[dict[str, str]]:
    """Rule rows posted as parallel rule_kind / rule_value lists; blank rows are skipped."""
    kinds, values = data.getlist("rule_kind"), data.getlist("rule_value")
    return [
        {kind: value.strip()}
        for kind, value in zip(kinds, values, strict=False)
        if kind in ("event", "page") and value.strip()
    ]


class FeatureMoveForm(forms.Form):
    module_path = forms.CharField(max_length=500, required=False)


class ModuleForm(forms.Form):
    path = forms.CharField(max_length=500, label="Module path")


class MemberAddForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class WriteKeyForm(forms.Form):
    product = forms.ChoiceField()
    label = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, products: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [(product.key, product.name) for product in products]


class TimezoneForm(forms.Form):
    timezone = forms.CharField(max_length=64, label="Time zone")


class ConfigImportForm(forms.Form):
    config = forms.FileField(label="config.json")
