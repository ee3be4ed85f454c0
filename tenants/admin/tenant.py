"""Admin for tenants and their config: edited as JSON, saved through tenants.services."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from harbourmaster.admin import (
    ReadOnlyAdminMixin,
    ServiceFormsMixin,
    staff_actor,
)
from tenants.config import config_errors
from tenants.models import Tenant, TenantConfigRevision
from tenants.selectors import tenant_effective_config
from tenants.services import (
    ConfigVersionConflict,
    TenantDeleted,
    tenant_activate,
    tenant_config_update,
    tenant_create,
    tenant_suspend,
    tenant_update,
)


def _pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class TenantConfigField(forms.CharField):
    """The config as JSON text, checked against the published schema; each error names its path."""

    # The tenant's config as stored, which a change form's edit would replace (none on the add form).
    stored = None

    def __init__(self, **kwargs):
        attrs = {"rows": 24, "cols": 90, "spellcheck": "false", "class": "vLargeTextField"}
        super().__init__(widget=forms.Textarea(attrs=attrs), required=False, **kwargs)

    def prepare_value(self, value):
        return value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)

    def to_python(self, value):
        text = super().to_python(value) or "{}"
        try:
            config = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValidationError(
                _("Not valid JSON: %(reason)s (line %(line)d, column %(column)d)."),
                params={"reason": error.msg, "line": error.lineno, "column": error.colno},
            ) from None
        errors = config_errors(config, stored=self.stored)
        if errors:
            raise ValidationError([str(error) for error in errors])
        return config

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


class TenantCreateForm(forms.ModelForm):
    config = TenantConfigField(label=gettext_lazy("Config (JSON)"), initial=dict)

    class Meta:
        model = Tenant
        fields = ("slug", "name", "contact_email", "config")


class TenantChangeForm(forms.ModelForm):
    config = TenantConfigField(label=gettext_lazy("Config (JSON)"))
    # The version the editor started from: saving over someone else's newer config is refused.
    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Tenant
        fields = ("name", "contact_email", "status", "config")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expected_version"].initial = self.instance.config_version
        # Deleting is for good (its clients are disabled): not one choice among statuses here.
        # (A view-only page, a deleted tenant's, shows the status without a field.)
        if "status" in self.fields:
            self.fields["status"].choices = [
                (value, label) for value, label in self.fields["status"].choices if value != Tenant.Status.DELETED
            ]
        # Each form has its own copy of the field: the stored config is this tenant's.
        self.fields["config"].stored = self.instance.config

    def clean(self):
        cleaned = super().clean()
        expected = cleaned.get("expected_version")
        if "config" in self.changed_data and expected is not None and expected != self.instance.config_version:
            self.add_error("config", _stale_config_error(expected, self.instance.config_version))
        return cleaned


def _stale_config_error(yours: int, current: int) -> ValidationError:
    return ValidationError(
        _(
            "Someone saved this tenant's config since you opened it: you edited version %(yours)s, "
            "it is now at version %(current)s. Reload the page and apply your change again."
        ),
        code="stale",
        params={"yours": yours, "current": current},
    )


@admin.register(Tenant)
class TenantAdmin(ServiceFormsMixin, admin.ModelAdmin):
    list_display = ("slug", "name", "status", "contact_email", "config_version", "updated_at")
    list_filter = ("status",)
    search_fields = ("slug", "name")
    actions = ("suspend", "activate")
    add_fieldsets = ((None, {"fields": ("slug", "name", "contact_email", "config")}),)
    fieldsets = (
        (None, {"fields": ("slug", "name", "contact_email", "status")}),
        (gettext_lazy("Config"), {"fields": ("config", "expected_version", "config_version", "config_revisions")}),
        (gettext_lazy("Effective config"), {"fields": ("effective_config",), "classes": ("collapse",)}),
        (gettext_lazy("History"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "slug",
        "config_version",
        "config_revisions",
        "effective_config",
        "created_at",
        "updated_at",
    )

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = TenantCreateForm if obj is None else TenantChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        # A deleted tenant is shown, never changed (as the operator API answers 409).
        if obj is not None and obj.status == Tenant.Status.DELETED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def create_through_service(self, request, form):
        data = form.cleaned_data
        return tenant_create(
            actor=staff_actor(request),
            slug=data["slug"],
            name=data["name"],
            contact_email=data["contact_email"],
            config=data["config"],
        )

    def save_model(self, request, obj, form, change):
        actor, data, changed = staff_actor(request), form.cleaned_data, form.changed_data
        tenant = Tenant.objects.get(pk=obj.pk)
        details = {name: data[name] for name in ("name", "contact_email") if name in changed}
        if details:
            tenant_update(actor=actor, tenant=tenant, **details)
        if "status" in changed:
            change_status = tenant_suspend if data["status"] == Tenant.Status.SUSPENDED else tenant_activate
            try:
                change_status(actor=actor, tenant=tenant)
            except TenantDeleted:
                # Deleted since the page was opened.
                raise ValidationError(_("This tenant is deleted; a deleted tenant stays deleted.")) from None
        if "config" in changed:
            try:
                tenant_config_update(
                    actor=actor, tenant=tenant, config=data["config"], expected_version=data["expected_version"]
                )
            except ConfigVersionConflict as conflict:
                stale = _stale_config_error(data["expected_version"], conflict.current_version)
                raise ValidationError({"config": stale}) from None

    @admin.display(description=gettext_lazy("Effective config"))
    def effective_config(self, obj):
        return _pretty_json(tenant_effective_config(tenant=obj))

    @admin.display(description=gettext_lazy("Revisions"))
    def config_revisions(self, obj):
        revisions = obj.config_revisions.order_by("-version")[:10]
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">v{}</a></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:tenants_tenantconfigrevision_change", args=[revision.pk]),
                    revision.version,
                    revision.created_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    revision.actor,
                )
                for revision in revisions
            ),
        )
        every = reverse("admin:tenants_tenantconfigrevision_changelist") + f"?tenant__id__exact={obj.pk}"
        return format_html('<table>{}</table><p><a href="{}">{}</a></p>', rows, every, _("All revisions"))

    @admin.action(description=gettext_lazy("Suspend selected tenants"), permissions=["change"])
    def suspend(self, request, queryset):
        self._set_status(request, queryset, tenant_suspend, _("Suspended"))

    @admin.action(description=gettext_lazy("Activate selected tenants"), permissions=["change"])
    def activate(self, request, queryset):
        self._set_status(request, queryset, tenant_activate, _("Activated"))

    def _set_status(self, request, queryset, service, verb):
        changed, deleted = [], []
        for tenant in queryset:
            try:
                service(actor=staff_actor(request), tenant=tenant)
            except TenantDeleted:
                deleted.append(tenant.slug)
                continue
            self.log_change(request, tenant, verb)
            changed.append(tenant.slug)
        if changed:
            self.message_user(request, f"{verb}: {', '.join(changed)}")
        if deleted:
            refused = _("Not changed, deleted tenants stay deleted: %s") % ", ".join(deleted)
            self.message_user(request, refused, messages.ERROR)


@admin.register(TenantConfigRevision)
class TenantConfigRevisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("tenant", "version", "actor", "created_at")
    list_filter = ("tenant",)
    list_select_related = ("tenant",)
    raw_id_fields = ("tenant",)
    search_fields = ("tenant__slug", "actor")
    ordering = ("-pk",)
    fields = ("tenant", "version", "actor", "created_at", "config_json")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("Config"))
    def config_json(self, obj):
        return _pretty_json(obj.config)
