"""allauth's SocialApp admin, with a secret that is written but never shown back.

allauth registers SocialApp with its secret in a plain text field. Here the field is a
password input that renders empty; leaving it empty keeps the stored secret. Staff who may
only view an app get no secret field at all: Django's read-only page would print its value.
Registered from ``accounts.admin`` (``social_app_admin_register()``).
"""

from allauth.socialaccount.admin import SocialAppAdmin, SocialAppForm
from allauth.socialaccount.models import SocialApp
from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class HubSocialAppForm(SocialAppForm):
    class Meta(SocialAppForm.Meta):
        widgets = {
            **SocialAppForm.Meta.widgets,
            "secret": forms.PasswordInput(render_value=False, attrs={"size": "100", "autocomplete": "new-password"}),
        }
        help_texts = {
            "secret": _("Write-only: leave empty to keep the stored secret."),
            "settings": _(
                'JSON. "tenants": the slugs of the tenants this app may serve; "email_authentication": true '
                "to let this provider's verified addresses sign in to existing accounts."
            ),
        }

    def clean_secret(self) -> str:
        secret = self.cleaned_data.get("secret", "")
        if not secret and self.instance.pk:
            return SocialApp.objects.values_list("secret", flat=True).get(pk=self.instance.pk)
        return secret


class HubSocialAppAdmin(SocialAppAdmin):
    form = HubSocialAppForm
    list_display = ("name", "provider", "provider_id", "client_id")

    def get_exclude(self, request, obj=None):
        exclude = tuple(super().get_exclude(request, obj) or ())
        if obj is not None and not self.has_change_permission(request, obj):
            exclude += ("secret",)
        return exclude


def social_app_admin_register(site: admin.AdminSite = admin.site) -> None:
    if site.is_registered(SocialApp):
        site.unregister(SocialApp)
    site.register(SocialApp, HubSocialAppAdmin)
