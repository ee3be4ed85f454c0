"""Admin for users and their memberships.

Profile edits go through ``accounts.services.user_profile_update``, so every tenant that knows
the user hears which fields changed; new users go through ``user_register``.
"""

import uuid

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialToken
from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, SetUnusablePasswordMixin, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.settings import oauth2_settings

from accounts.models import PROFILE_FIELDS, Membership, User, normalize_email
from accounts.services import (
    membership_link,
    user_deactivate,
    user_profile_update,
    user_reactivate,
    user_register,
    user_sign_out_everywhere,
)
from accounts.signin.email_admin import email_address_admin_register
from accounts.signin.social_admin import social_app_admin_register
from audit.selectors import access_records_for_user
from consents.models import Consent
from harbourmaster.admin import (
    AllTenantsAdminMixin,
    AllTenantsInlineMixin,
    EmailSearchMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    ServiceFormsMixin,
    input_filter,
    staff_actor,
)
from tenants.admin.tokens import refresh_token_admin_register
from tenants.models import Tenant

# Django's own sign-in and permission flags: no tenant hears of them, so no service owns them.
ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser")
# Whoever may set these can make themselves a superuser: only superusers see them editable.
SUPERUSER_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

UserIdFilter = input_filter("user_id", gettext_lazy("user id"), "user", cast=int)


def user_search_condition(term: str) -> Q:
    """Each shape of search term goes to the one index that answers it."""
    if "@" in term:
        return Q(email=normalize_email(term))
    if term.startswith("+"):
        return Q(phone_number=term.replace(" ", ""))
    try:
        return Q(uuid=uuid.UUID(term))
    except ValueError:
        pass
    if term.isascii() and term.isdigit():  # "²" is a digit to isdigit(), not to int()
        return Q(pk=int(term))
    capitalised = term[:1].upper() + term[1:]
    return Q(family_name__startswith=term) | Q(family_name__startswith=capitalised)


class UserCreateForm(SetUnusablePasswordMixin, BaseUserCreationForm):
    usable_password = SetUnusablePasswordMixin.create_usable_password_field()
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.all(),
        required=False,
        widget=ForeignKeyRawIdWidget(Membership._meta.get_field("tenant").remote_field, admin.site),
        help_text=gettext_lazy("Optional: the tenant the user belongs to. It hears of the new user."),
    )

    class Meta:
        model = User
        fields = ("email", "phone_number", "given_name", "family_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password1"].required = False
        self.fields["password2"].required = False

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("email") and not cleaned.get("phone_number"):
            raise ValidationError(_("A registered user needs an email address or a phone number."))
        return cleaned


class UserProfileForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


class MembershipInline(ReadOnlyAdminMixin, AllTenantsInlineMixin, admin.TabularInline):
    model = Membership
    fields = ("tenant", "external_id", "source", "created_at", "last_seen_at")
    readonly_fields = fields
    raw_id_fields = ("tenant",)
    ordering = ("-pk",)
    show_change_link = True
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant")


class ConsentInline(ReadOnlyAdminMixin, AllTenantsInlineMixin, admin.TabularInline):
    model = Consent
    fields = ("purpose", "tenant", "state", "version", "granted_at", "withdrawn_at")
    readonly_fields = fields
    raw_id_fields = ("purpose", "tenant", "version")
    ordering = ("-pk",)
    show_change_link = True
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("purpose", "tenant", "version")


@admin.register(User)
class UserAdmin(ServiceFormsMixin, LargeTableAdminMixin, DjangoUserAdmin):
    form = UserProfileForm
    add_form = UserCreateForm
    list_display = ("email", "phone_number", "given_name", "family_name", "kind", "is_active", "is_staff")
    list_filter = ("kind", "is_active", "is_staff", "is_superuser")
    # Terms are routed to one indexed column each (see user_search_condition).
    search_fields = ("email", "phone_number", "uuid", "family_name")
    search_help_text = gettext_lazy(
        "An exact email, phone number (+49…), uuid or id; or the beginning of a family name."
    )
    readonly_fields = (
        "uuid",
        "kind",
        "date_joined",
        "last_login",
        "updated_at",
        "data_access",
        "merged_into",
        "merged_at",
        "merged_by",
    )
    raw_id_fields = ("merged_into",)
    inlines = (MembershipInline, ConsentInline)
    actions = ("sign_out_everywhere",)

    @admin.action(
        permissions=["change"], description=gettext_lazy("Sign out everywhere: the hub, every app and their tokens")
    )
    def sign_out_everywhere(self, request, queryset):
        issuer = oauth2_settings.oidc_issuer(request)
        users = list(queryset)
        for user in users:
            user_sign_out_everywhere(actor=staff_actor(request), user=user, issuer=issuer)
        self.message_user(request, _("Signed out everywhere: %(count)d user(s).") % {"count": len(users)})

    fieldsets = (
        (None, {"fields": ("uuid", "kind", "email", "email_verified", "phone_number", "phone_number_verified")}),
        (gettext_lazy("Guest merged into an account"), {"fields": ("merged_into", "merged_at", "merged_by")}),
        (
            gettext_lazy("Profile"),
            {
                "fields": (
                    ("given_name", "middle_name", "family_name"),
                    ("nickname", "preferred_username"),
                    ("gender", "birthdate"),
                    ("zoneinfo", "locale"),
                    "picture",
                    "website",
                    "profile",
                )
            },
        ),
        (
            gettext_lazy("Address"),
            {
                "fields": (
                    "address_street",
                    ("address_postal_code", "address_locality"),
                    ("address_region", "address_country"),
                )
            },
        ),
        (
            gettext_lazy("Sign-in and permissions"),
            {"fields": ("password", "is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (gettext_lazy("Who saw this user's data"), {"fields": ("data_access",)}),
        (gettext_lazy("Dates"), {"fields": ("date_joined", "last_login", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "phone_number", "given_name", "family_name", "tenant")}),
        (gettext_lazy("Password"), {"fields": ("usable_password", "password1", "password2")}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.has_perm("audit.view_accessrecord"):
            return fieldsets
        # Who read a user's data is the audit's to show, behind its own permission.
        return [(name, options) for name, options in fieldsets if "data_access" not in options["fields"]]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None or request.user.is_superuser:
            return readonly
        return (*readonly, *SUPERUSER_FIELDS)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(user_search_condition(term)), False

    def has_delete_permission(self, request, obj=None):
        # Erasure keeps the proof that it happened; a row delete would not (and PROTECT refuses it).
        return False

    @method_decorator(sensitive_post_parameters())
    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, extra_context)

    def has_add_permission(self, request):
        # As in Django's UserAdmin: whoever adds users can make superusers, so must be able to change them.
        return super().has_add_permission(request) and self.has_change_permission(request)

    def create_through_service(self, request, form):
        data = form.cleaned_data
        return user_register(
            actor=staff_actor(request),
            email=data["email"],
            phone_number=data["phone_number"],
            password=data["password1"] if data["set_usable_password"] else None,
            tenant=data["tenant"],
            source=Membership.Source.ADMIN,
            given_name=data["given_name"],
            family_name=data["family_name"],
        )

    def save_model(self, request, obj, form, change):
        data, changed = form.cleaned_data, form.changed_data
        # A fresh copy: ``obj`` already carries the edits, and the service compares against what is stored.
        user = User.objects.get(pk=obj.pk)
        profile = {name: data[name] for name in changed if name in PROFILE_FIELDS}
        if profile:
            user_profile_update(actor=staff_actor(request), user=user, changes=profile)
        access = [name for name in changed if name in ACCESS_FIELDS]
        if "is_active" in access:
            # Through the services: the user's tenants, and the apps their sessions signed in to, are told.
            access.remove("is_active")
            if data["is_active"]:
                user_reactivate(actor=staff_actor(request), user=user)
            else:
                user_deactivate(actor=staff_actor(request), user=user, issuer=oauth2_settings.oidc_issuer(request))
        if access:
            for name in access:
                setattr(user, name, data[name])
            user.save(update_fields=access)

    @admin.display(description=gettext_lazy("Latest reads by tenants"))
    def data_access(self, obj):
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:audit_accessrecord_change", args=[record.pk]),
                    record.occurred_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    record.tenant.slug,
                    record.client.name if record.client else "",
                    record.purpose,
                    record.action,
                )
                for record in access_records_for_user(user=obj, limit=10)
            ),
        )
        every = reverse("admin:audit_accessrecordsubject_changelist") + f"?user={obj.pk}"
        # Streams name their users in blocks of ids, a list of their own (docs/decisions/0023).
        streams = reverse("admin:audit_accessrecordsubjectblock_changelist") + f"?user={obj.pk}"
        consents = reverse("admin:consents_consentrecord_changelist") + f"?user={obj.pk}"
        return format_html(
            '<table>{}</table><p><a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a></p>',
            rows or format_html("<tr><td>{}</td></tr>", _("No tenant has read this user's data.")),
            every,
            _("Every page and lookup of this user's data"),
            streams,
            _("Every stream that sent it"),
            consents,
            _("Consent records"),
        )


class MembershipCreateForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "tenant", "external_id")


class MembershipChangeForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("external_id",)

    def clean_external_id(self):
        external_id = self.cleaned_data["external_id"]
        if not external_id and self.instance.external_id:
            raise ValidationError(_("A tenant's id for the user can be changed, not removed."))
        return external_id


@admin.register(Membership)
class MembershipAdmin(
    ServiceFormsMixin, AllTenantsAdminMixin, EmailSearchMixin, LargeTableAdminMixin, admin.ModelAdmin
):
    list_display = ("id", "user", "tenant", "external_id", "source", "created_at", "last_seen_at")
    list_select_related = ("user", "tenant")
    list_filter = ("tenant", "source", UserIdFilter)
    raw_id_fields = ("user", "tenant")
    search_fields = ("external_id__exact", "user__email__exact", "user__uuid__exact")
    search_help_text = gettext_lazy("The tenant's id for the user, or the user's exact email or uuid.")
    readonly_fields = ("user", "tenant", "source", "created_at", "last_seen_at")

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = MembershipCreateForm if obj is None else MembershipChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "tenant", "external_id")
        return ("user", "tenant", "external_id", "source", "created_at", "last_seen_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def create_through_service(self, request, form):
        data = form.cleaned_data
        return membership_link(
            actor=staff_actor(request),
            user=data["user"],
            tenant=data["tenant"],
            source=Membership.Source.ADMIN,
            external_id=data["external_id"],
        )

    def save_model(self, request, obj, form, change):
        if "external_id" in form.changed_data:
            membership = Membership.objects.unscoped().select_related("user", "tenant").get(pk=obj.pk)
            membership_link(
                actor=staff_actor(request),
                user=membership.user,
                tenant=membership.tenant,
                source=membership.source,
                external_id=form.cleaned_data["external_id"],
            )


# allauth's SocialApp admin, with the provider secret write-only.
social_app_admin_register()
# allauth's and the toolkit's actions that verify an address or revoke a token, behind a permission.
email_address_admin_register()
refresh_token_admin_register()
# The hub keeps no provider tokens (SOCIALACCOUNT_STORE_TOKENS = False): nothing to show.
admin.site.unregister(SocialToken)
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """A user's second factors, without their secrets. Deleting one resets it: the user
    enrols again (a tenant requiring MFA asks at the next sign-in)."""

    raw_id_fields = ("user",)
    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type",)
    search_fields = ("=user__email",)
    fields = ("user", "type", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
