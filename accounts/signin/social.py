"""allauth's social account adapter: each tenant's upstream identity providers, and nobody else's.

A provider app (allauth's ``SocialApp``, kept by operators in the admin with its secret)
serves a sign-in only when all three agree:

- the operator lets the tenant use it: the tenant's slug is in the app's
  ``settings["tenants"]`` (an app naming no tenant serves none);
- the tenant's config lists it in ``social_providers`` (provider and ``client_id``);
- the tenant's ``login_methods`` offer that kind of provider (``google``, ``facebook``,
  ``apple``, ``oidc``).

The tenant is the one the sign-in is serving (``signin_context``). A login or callback URL
of a provider app the tenant does not enable gets a refusal page before anything is asked
of the provider or written here.

Linking (docs/decisions/0017-social-sign-in.md): a provider's email address signs in to an
existing account only when the operator marked that app trusted for it
(``settings["email_authentication"] = true``), the provider says the address is verified,
and the hub has verified it for that account too. Otherwise allauth's own flow applies: no
account is touched, the owner of the address is told by email, and connects the provider
after signing in to the account.
"""

from typing import Any

from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.signin.context import SignInContext, signin_context
from accounts.signin.services import signin_signed_up

# Tenant config's word for a kind of provider -> allauth's provider id.
PROVIDER_BY_METHOD = {"google": "google", "facebook": "facebook", "apple": "apple", "oidc": "openid_connect"}
METHOD_BY_PROVIDER = {provider: method for method, provider in PROVIDER_BY_METHOD.items()}
NAME_FIELD_LENGTH = 150


def tenant_entry_for_app(context: SignInContext, app: SocialApp) -> dict[str, Any] | None:
    """The served tenant's ``social_providers`` entry that ``app`` serves, if the tenant may use it."""
    method = METHOD_BY_PROVIDER.get(app.provider)
    if context.tenant is None or method is None or not context.allows(method):
        return None
    if context.tenant.slug not in app.settings.get("tenants", []):
        return None
    for entry in context.config["social_providers"]:
        if entry["provider"] == method and entry["client_id"] == app.client_id:
            return entry
    return None


def _serves_a_provider_view(request: HttpRequest | None) -> bool:
    """True on a provider's own login, callback or token-login URL."""
    match = getattr(request, "resolver_match", None)
    return match is not None and match.func.__module__.startswith("allauth.socialaccount.providers.")


def provider_refused(request: HttpRequest) -> HttpResponse:
    context = signin_context(request)
    return render(request, "socialaccount/provider_refused.html", {"tenant_name": context.display_name}, status=403)


class HubSocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request: HttpRequest | None, provider=None, client_id=None) -> list[SocialApp]:
        """The apps the served tenant enables, labelled with the tenant's name for each.

        Without a request (allauth's checks, a shell) every app, as allauth lists them.
        """
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        if request is None:
            return apps
        context = signin_context(request)
        enabled = []
        for app in apps:
            entry = tenant_entry_for_app(context, app)
            if entry is not None:
                app.name = entry.get("name") or app.name  # what this tenant's page calls it; never saved
                enabled.append(app)
        return enabled

    def get_app(self, request: HttpRequest | None, provider, client_id=None) -> SocialApp:
        if request is None:
            # Naming an account connected elsewhere: any app of that provider will do.
            apps = super().list_apps(None, provider=provider, client_id=client_id)
            if apps:
                return apps[0]
        return super().get_app(request, provider, client_id=client_id)

    def get_provider(self, request: HttpRequest | None, provider, client_id=None):
        try:
            return super().get_provider(request, provider, client_id=client_id)
        except SocialApp.DoesNotExist:
            if request is None:
                raise
            if _serves_a_provider_view(request):
                raise ImmediateHttpResponse(provider_refused(request)) from None
            # The account pages show and disconnect accounts connected while another
            # tenant was served; that signs nobody in.
            return super().get_provider(None, provider, client_id=client_id)

    def can_authenticate_by_email(self, login: SocialLogin, email: str) -> bool:
        """Only an app the operator marked trusted for it; never a global default."""
        return login.provider.app is not None and login.provider.app.settings.get("email_authentication") is True

    def authenticate_by_email(self, sociallogin: SocialLogin):
        """The active account whose hub-verified address the provider also verified, if trusted."""
        for address in sociallogin.email_addresses:
            if not address.verified or not self.can_authenticate_by_email(sociallogin, address.email):
                continue
            owned = (
                EmailAddress.objects.filter(email__iexact=address.email, verified=True, user__is_active=True)
                .select_related("user")
                .first()
            )
            if owned is not None:
                return owned.user, owned.email
        return None

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]):
        user = super().populate_user(request, sociallogin, data)
        name = (data.get("name") or "").partition(" ")
        user.given_name = (data.get("first_name") or name[0])[:NAME_FIELD_LENGTH]
        user.family_name = (data.get("last_name") or name[2])[:NAME_FIELD_LENGTH]
        user.email = user.email or None  # no address is no address, not an empty one
        user.email_verified = any(
            address.verified and address.email.lower() == (user.email or "").lower()
            for address in sociallogin.email_addresses
        )
        return user

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form=None):
        """A provider's first sign-in makes the user; the served tenant hears of it at once."""
        with transaction.atomic():
            user = super().save_user(request, sociallogin, form)
            signin_signed_up(user=user, tenant=signin_context(request).tenant)
        return user
