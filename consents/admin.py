"""Admin for purposes, their statements, consents and the consent ledger.

Statements are published, purposes retired and consents withdrawn through consents.services,
which write the proof (PurposeVersion, ConsentRecord) and tell the tenant (outbox Event).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from consents.models import DATA_CATEGORIES, Channel, Consent, ConsentRecord, Purpose, PurposeVersion
from consents.services import consent_withdraw, purpose_create, purpose_retire, purpose_statement_publish
from harbourmaster.admin import (
    AllTenantsAdminMixin,
    EmailSearchMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    ServiceFormsMixin,
    action_form,
    action_form_page,
    error_messages,
    input_filter,
    staff_actor,
)

UserIdFilter = input_filter("user_id", gettext_lazy("user id"), "user", cast=int)


class PurposeCreateForm(forms.ModelForm):
    data_categories = forms.MultipleChoiceField(
        choices=[(category, category) for category in DATA_CATEGORIES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy("The OpenID Connect scopes whose data this purpose needs."),
    )
    statement = forms.CharField(
        widget=forms.Textarea,
        help_text=gettext_lazy("The text users agree to, published as version 1."),
    )

    class Meta:
        model = Purpose
        fields = ("tenant", "slug", "name", "legal_basis", "data_categories")


class PurposeStatementForm(forms.ModelForm):
    new_statement = forms.CharField(
        widget=forms.Textarea,
        required=False,
        label=gettext_lazy("Publish a new statement"),
        help_text=gettext_lazy(
            "Leave empty to keep the current one. A new statement becomes the next version; "
            "earlier versions stay as users agreed to them."
        ),
    )
    requires_reconsent = forms.BooleanField(
        required=False,
        label=gettext_lazy("Users must agree again"),
        help_text=gettext_lazy("Consents to earlier versions stop counting until users agree to the new one."),
    )

    class Meta:
        model = Purpose
        fields = ()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("new_statement") and not self.instance.is_active:
            self.add_error("new_statement", _("A retired purpose takes no new statements."))
        if cleaned.get("requires_reconsent") and not cleaned.get("new_statement"):
            self.add_error("requires_reconsent", _("Only a new statement can ask users to agree again."))
        return cleaned


class PurposeVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PurposeVersion
    fields = ("version", "statement", "statement_hash", "requires_reconsent", "actor", "published_at")
    readonly_fields = fields
    ordering = ("-version",)
    extra = 0


@admin.register(Purpose)
class PurposeAdmin(ServiceFormsMixin, AllTenantsAdminMixin, admin.ModelAdmin):
    list_display = ("slug", "name", "tenant", "legal_basis", "status", "current_version", "created_at")
    list_filter = ("tenant", "status", "legal_basis")
    list_select_related = ("tenant",)
    search_fields = ("slug", "name")
    raw_id_fields = ("tenant",)
    inlines = (PurposeVersionInline,)
    actions = ("retire",)
    add_fieldsets = ((None, {"fields": ("tenant", "slug", "name", "legal_basis", "data_categories", "statement")}),)
    fieldsets = (
        (
            None,
            {"fields": ("tenant", "slug", "name", "legal_basis", "data_categories", "status", "retired_at")},
        ),
        (
            gettext_lazy("Statement"),
            {"fields": ("current_version", "reconsent_from_version", "new_statement", "requires_reconsent")},
        ),
    )
    readonly_fields = (
        "tenant",
        "slug",
        "name",
        "legal_basis",
        "data_categories",
        "status",
        "retired_at",
        "current_version",
        "reconsent_from_version",
    )

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = PurposeCreateForm if obj is None else PurposeStatementForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def create_through_service(self, request, form):
        data = form.cleaned_data
        return purpose_create(
            actor=staff_actor(request),
            tenant=data["tenant"],
            slug=data["slug"],
            name=data["name"],
            statement=data["statement"],
            legal_basis=data["legal_basis"],
            data_categories=data["data_categories"],
        )

    def save_model(self, request, obj, form, change):
        statement = form.cleaned_data.get("new_statement")
        if statement:
            purpose_statement_publish(
                actor=staff_actor(request),
                purpose=obj,
                statement=statement,
                requires_reconsent=form.cleaned_data["requires_reconsent"],
            )

    @admin.action(description=gettext_lazy("Retire selected purposes (no new consents)"), permissions=["change"])
    def retire(self, request, queryset):
        purposes = list(queryset.select_related("tenant"))
        for purpose in purposes:
            purpose_retire(actor=staff_actor(request), purpose=purpose)
            self.log_change(request, purpose, _("Retired."))
        self.message_user(
            request, ngettext("Retired %d purpose.", "Retired %d purposes.", len(purposes)) % len(purposes)
        )


@admin.register(PurposeVersion)
class PurposeVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("purpose", "version", "requires_reconsent", "actor", "published_at")
    list_filter = ("purpose__tenant",)
    list_select_related = ("purpose",)
    raw_id_fields = ("purpose",)
    search_fields = ("purpose__slug",)
    ordering = ("-pk",)


class WithdrawForm(forms.Form):
    source = forms.CharField(
        max_length=200,
        label=gettext_lazy("Reference"),
        help_text=gettext_lazy("Kept in each consent record as proof, e.g. the support ticket the user opened."),
    )


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdminMixin, AllTenantsAdminMixin, EmailSearchMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "purpose", "tenant", "state", "statement_version", "granted_at", "withdrawn_at")
    list_select_related = ("user", "purpose", "tenant", "version")
    list_filter = ("state", "tenant", "purpose", UserIdFilter)
    raw_id_fields = ("user", "purpose", "tenant", "version")
    search_fields = ("user__email__exact", "user__uuid__exact")
    search_help_text = gettext_lazy("The user's exact email or uuid.")
    actions = ("withdraw",)

    def has_withdraw_permission(self, request):
        return request.user.has_perm("consents.change_consent")

    @admin.display(description=gettext_lazy("statement"))
    def statement_version(self, obj):
        return f"v{obj.version.version}"

    @admin.action(description=gettext_lazy("Withdraw selected consents for the user"), permissions=["withdraw"])
    def withdraw(self, request, queryset):
        open_states = (Consent.State.GRANTED, Consent.State.PENDING)
        granted = queryset.filter(state__in=open_states).select_related("user", "purpose")
        if not granted.exists():
            self.message_user(
                request, _("None of the selected consents is granted or waiting for confirmation."), messages.WARNING
            )
            return None
        form = action_form(request, WithdrawForm)
        if not form.is_bound or not form.is_valid():
            intro = _("On the user's behalf: each withdrawal is recorded as proof and the tenant is told at once.")
            return action_form_page(
                self,
                request,
                granted.select_related("tenant"),
                form,
                title=_("Withdraw consents"),
                intro=intro,
                action="withdraw",
                describe=lambda consent: f"{consent.user}: {consent.purpose.slug} ({consent.tenant.slug})",
            )
        try:
            with transaction.atomic():
                withdrawn = [self._withdraw(request, consent, form.cleaned_data["source"]) for consent in granted]
        except ValidationError as error:
            self.message_user(request, "; ".join(error_messages(error)), messages.ERROR)
            return None
        self.message_user(
            request, ngettext("Withdrew %d consent.", "Withdrew %d consents.", len(withdrawn)) % len(withdrawn)
        )
        return None

    def _withdraw(self, request, consent, source):
        return consent_withdraw(
            actor=staff_actor(request), user=consent.user, purpose=consent.purpose, channel=Channel.ADMIN, source=source
        )


@admin.register(ConsentRecord)
class ConsentRecordAdmin(
    ReadOnlyAdminMixin, AllTenantsAdminMixin, EmailSearchMixin, LargeTableAdminMixin, admin.ModelAdmin
):
    list_display = ("id", "occurred_at", "user", "purpose", "tenant", "action", "channel", "client")
    list_select_related = ("user", "purpose", "tenant", "client")
    list_filter = ("action", "channel", "tenant", UserIdFilter)
    raw_id_fields = ("user", "purpose", "tenant", "version", "client")
    search_fields = ("user__email__exact", "user__uuid__exact")
    search_help_text = gettext_lazy("The user's exact email or uuid.")
