"""Admin for OAuth clients and their secrets: secrets are issued by services and shown once."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from harbourmaster.admin import (
    AllTenantsAdminMixin,
    AllTenantsInlineMixin,
    ReadOnlyAdminMixin,
    ServiceFormsMixin,
    SubmissionField,
    action_form,
    action_form_page,
    staff_actor,
    submission_claim,
    submission_release,
)
from tenants.config import config_schema
from tenants.models import Client, ClientSecret
from tenants.scopes import API_SCOPES
from tenants.selectors import tenant_effective_config
from tenants.services import (
    BACKCHANNEL_LOGOUT_FIELDS,
    client_create,
    client_disable,
    client_enable,
    client_secret_revoke,
    client_secret_rotate,
    client_update,
)

OFFERED_GRANTS = (Client.GRANT_AUTHORIZATION_CODE, Client.GRANT_CLIENT_CREDENTIALS)


def _oidc_scopes() -> list[str]:
    return config_schema()["properties"]["allowed_scopes"]["items"]["enum"]


def _all_scope_choices():
    return [
        (_("Sign-in (OpenID Connect)"), [(scope, scope) for scope in _oidc_scopes()]),
        (_("Tenant API (client credentials)"), [(scope, scope) for scope in API_SCOPES]),
    ]


def _client_scope_choices(client: Client):
    if client.authorization_grant_type == Client.GRANT_CLIENT_CREDENTIALS:
        offered = list(API_SCOPES)
    else:
        offered = ["openid", *tenant_effective_config(tenant=client.tenant)["allowed_scopes"]]
    # A scope the client holds stays visible even if no longer offered, so saving does not drop it unseen.
    return [(scope, scope) for scope in dict.fromkeys([*offered, *client.allowed_scopes])]


CLIENT_LABELS = {"skip_authorization": gettext_lazy("First party")}
CLIENT_HELP = {
    "redirect_uris": gettext_lazy("One per line."),
    "post_logout_redirect_uris": gettext_lazy("One per line."),
    "allowed_origins": gettext_lazy("One per line."),
    "skip_authorization": gettext_lazy("One of the group's own apps: users are not asked to approve it."),
    "backchannel_logout_uri": gettext_lazy(
        "https address the hub POSTs a logout token to when a user's hub session ends (Back-Channel Logout)."
    ),
    "backchannel_logout_session_required": gettext_lazy(
        "The app needs sid in logout tokens (the hub always sends it)."
    ),
}


class ClientCreateForm(forms.ModelForm):
    allowed_scopes = forms.MultipleChoiceField(
        choices=_all_scope_choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    submission = SubmissionField()

    class Meta:
        model = Client
        fields = (
            "name",
            "tenant",
            "client_type",
            "authorization_grant_type",
            "skip_authorization",
            "redirect_uris",
            "post_logout_redirect_uris",
            "allowed_origins",
            "allowed_scopes",
            *BACKCHANNEL_LOGOUT_FIELDS,
        )
        labels = CLIENT_LABELS
        help_texts = CLIENT_HELP

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        grants = self.fields["authorization_grant_type"]
        grants.choices = [(value, label) for value, label in Client.GRANT_TYPES if value in OFFERED_GRANTS]
        self.fields["name"].required = True
        self.fields["skip_authorization"].initial = True

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "tenant": data["tenant"],
            "name": data["name"],
            "client_type": data["client_type"],
            "grant_type": data["authorization_grant_type"],
            "redirect_uris": data["redirect_uris"].split(),
            "post_logout_redirect_uris": data["post_logout_redirect_uris"].split(),
            "allowed_origins": data["allowed_origins"].split(),
            "allowed_scopes": data["allowed_scopes"],
            "first_party": data["skip_authorization"],
            **{name: data[name] for name in BACKCHANNEL_LOGOUT_FIELDS},
        }


class ClientChangeForm(forms.ModelForm):
    allowed_scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = Client
        fields = (
            "name",
            "redirect_uris",
            "post_logout_redirect_uris",
            "allowed_origins",
            "allowed_scopes",
            "skip_authorization",
            *BACKCHANNEL_LOGOUT_FIELDS,
        )
        labels = CLIENT_LABELS
        help_texts = CLIENT_HELP

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["allowed_scopes"].choices = _client_scope_choices(self.instance)

    def service_changes(self) -> dict:
        """Only what staff changed, in the shape ``client_update`` takes."""
        data, changes = self.cleaned_data, {}
        for name in self.changed_data:
            if name in ("redirect_uris", "post_logout_redirect_uris", "allowed_origins"):
                changes[name] = data[name].split()
            elif name == "skip_authorization":
                changes["first_party"] = data[name]
            else:
                changes[name] = data[name]
        return changes


class RotateSecretForm(forms.Form):
    overlap_hours = forms.IntegerField(
        label=gettext_lazy("Keep the current secrets working for (hours)"),
        min_value=0,
        max_value=24 * 30,
        initial=24,
        help_text=gettext_lazy("Time for the tenant to deploy the new secret. 0 ends the current secrets now."),
    )
    submission = SubmissionField()


@dataclass(frozen=True)
class IssuedSecret:
    client: Client
    secret: str
    old_valid_until: datetime | None


class ClientStateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("Active")), ("disabled", _("Disabled"))]

    def queryset(self, request, queryset):
        if self.value() in ("active", "disabled"):
            return queryset.filter(disabled_at__isnull=self.value() == "active")
        return queryset


class ClientSecretInline(ReadOnlyAdminMixin, AllTenantsInlineMixin, admin.TabularInline):
    model = ClientSecret
    fields = ("masked", "created_at", "created_by", "expires_at", "revoked_at")
    readonly_fields = fields
    ordering = ("-pk",)
    extra = 0


class ClientAdmin(ServiceFormsMixin, admin.ModelAdmin):
    """Registered by django-oauth-toolkit. The inherited ``client_secret`` column is never shown:
    secrets live hashed in ClientSecret and are shown once, when issued."""

    list_display = ("name", "client_id", "tenant", "client_type", "authorization_grant_type", "first_party", "state")
    list_filter = ("tenant", "client_type", "authorization_grant_type", ClientStateFilter)
    list_select_related = ("tenant",)
    search_fields = ("client_id__exact", "name")
    raw_id_fields = ("tenant", "user")
    radio_fields = {"client_type": admin.HORIZONTAL, "authorization_grant_type": admin.VERTICAL}
    exclude = ("client_secret", "hash_client_secret")
    ordering = ("-pk",)
    inlines = (ClientSecretInline,)
    actions = ("rotate_secret", "disable", "enable")
    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "tenant",
                    "client_type",
                    "authorization_grant_type",
                    "skip_authorization",
                    "submission",
                )
            },
        ),
        (
            gettext_lazy("Sign-in"),
            {"fields": ("redirect_uris", "post_logout_redirect_uris", "allowed_origins", "allowed_scopes")},
        ),
        (gettext_lazy("Back-channel logout"), {"fields": BACKCHANNEL_LOGOUT_FIELDS}),
    )
    fieldsets = (
        (None, {"fields": ("name", "client_id", "tenant", "client_type", "authorization_grant_type", "state")}),
        (
            gettext_lazy("Sign-in"),
            {
                "fields": (
                    "redirect_uris",
                    "post_logout_redirect_uris",
                    "allowed_origins",
                    "allowed_scopes",
                    "skip_authorization",
                )
            },
        ),
        (gettext_lazy("Back-channel logout"), {"fields": BACKCHANNEL_LOGOUT_FIELDS}),
        (gettext_lazy("History"), {"fields": ("created", "updated", "disabled_at", "registration_source")}),
    )
    readonly_fields = (
        "client_id",
        "tenant",
        "client_type",
        "authorization_grant_type",
        "state",
        "created",
        "updated",
        "disabled_at",
        "registration_source",
    )

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = ClientCreateForm if obj is None else ClientChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        rotate = self.admin_site.admin_view(self.rotate_secret_view)
        return [
            path("<path:object_id>/rotate-secret/", rotate, name="tenants_client_rotate_secret"),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("first party"), boolean=True)
    def first_party(self, obj):
        return obj.is_first_party

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj):
        return _("Disabled") if obj.is_disabled else _("Active")

    def add_through_service(self, request, form):
        token = form.cleaned_data["submission"]
        if not submission_claim(token):
            return self._already_submitted(request)
        try:
            client, secret = client_create(actor=staff_actor(request), **form.service_arguments())
        except ValidationError:
            submission_release(token)
            raise
        self.log_addition(request, client, [{"added": {}}])
        if secret is None:
            return self.response_add(request, client)
        return self.secret_once_response(request, [IssuedSecret(client, secret, None)], title=_("Client created"))

    def save_model(self, request, obj, form, change):
        changes = form.service_changes()
        if changes:
            client_update(actor=staff_actor(request), client=Client.objects.get(pk=obj.pk), changes=changes)

    def secret_once_response(self, request, issued: list[IssuedSecret], *, title: str):
        """The only place a secret is ever shown: rendered into this response, kept nowhere."""
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.opts, "issued": issued}
        response = TemplateResponse(request, "admin/tenants/client/secret_once.html", context)
        add_never_cache_headers(response)
        return response

    def _already_submitted(self, request):
        self.message_user(
            request,
            _(
                "That form was already submitted, and a secret is shown only once. "
                "If it was not copied, rotate the client's secret."
            ),
            messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:tenants_client_changelist"))

    @admin.action(description=gettext_lazy("Rotate the secret of selected clients"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        return self._rotate(request, queryset, action="rotate_secret")

    def rotate_secret_view(self, request, object_id):
        client = self.get_object(request, unquote(object_id))
        if client is None:
            raise Http404
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        return self._rotate(request, Client.objects.filter(pk=client.pk), action="")

    def _rotate(self, request, queryset, *, action: str):
        clients = queryset.filter(client_type=Client.CLIENT_CONFIDENTIAL).select_related("tenant")
        if not clients.exists():
            self.message_user(request, _("Public clients have no secret to rotate."), messages.WARNING)
            return None if action else HttpResponseRedirect("../")
        form = action_form(request, RotateSecretForm)
        if not form.is_bound or not form.is_valid():
            intro = _("Each client gets a new secret, shown on the next page once.")
            return action_form_page(
                self, request, clients, form, title=_("Rotate client secrets"), intro=intro, action=action
            )
        if not submission_claim(form.cleaned_data["submission"]):
            return self._already_submitted(request)
        hours = form.cleaned_data["overlap_hours"]
        overlap_until = timezone.now() + timedelta(hours=hours) if hours else None
        issued = []
        # All or none: a secret issued in a batch that later failed would never be shown.
        with transaction.atomic():
            for client in clients:
                secret = client_secret_rotate(actor=staff_actor(request), client=client, overlap_until=overlap_until)
                self.log_change(request, client, _("Rotated the client secret."))
                issued.append(IssuedSecret(client, secret, overlap_until or timezone.now()))
        return self.secret_once_response(request, issued, title=_("New client secrets"))

    @admin.action(
        description=gettext_lazy("Disable selected clients (and revoke their tokens)"), permissions=["change"]
    )
    def disable(self, request, queryset):
        self._switch(request, queryset, client_disable, _("Disabled"))

    @admin.action(description=gettext_lazy("Enable selected clients"), permissions=["change"])
    def enable(self, request, queryset):
        self._switch(request, queryset, client_enable, _("Enabled"))

    def _switch(self, request, queryset, service, verb):
        clients = list(queryset)
        for client in clients:
            service(actor=staff_actor(request), client=client)
            self.log_change(request, client, verb)
        self.message_user(request, f"{verb}: {', '.join(str(client) for client in clients)}")


@admin.register(ClientSecret)
class ClientSecretAdmin(ReadOnlyAdminMixin, AllTenantsAdminMixin, admin.ModelAdmin):
    """Secrets are issued only by creating or rotating a client; here they can be seen (masked)
    and revoked."""

    list_display = ("masked", "client", "created_at", "created_by", "expires_at", "revoked_at")
    list_select_related = ("client",)
    list_filter = ("client__tenant",)
    raw_id_fields = ("client",)
    search_fields = ("client__client_id__exact", "prefix__exact")
    ordering = ("-pk",)
    fields = ("masked", "client", "created_at", "created_by", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    def has_revoke_permission(self, request):
        return request.user.has_perm("tenants.change_client")

    @admin.action(description=gettext_lazy("Revoke selected secrets now"), permissions=["revoke"])
    def revoke(self, request, queryset):
        secrets = list(queryset.select_related("client"))
        for secret in secrets:
            client_secret_revoke(actor=staff_actor(request), secret=secret)
        self.message_user(request, ngettext("Revoked %d secret.", "Revoked %d secrets.", len(secrets)) % len(secrets))
