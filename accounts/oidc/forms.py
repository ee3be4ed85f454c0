"""allauth's login form, told which tenant app the user is signing in to.

allauth hands its forms the request (ACCOUNT_FORMS); when the page was reached from the
authorization endpoint, ``next`` names the client, so the page can say where the user
is going. Nothing is trusted from it: it only picks a name to show.
"""

from urllib.parse import parse_qs, urlsplit

from allauth.account.forms import LoginForm
from django.urls import reverse

from tenants.models import Client, Tenant
from tenants.selectors import tenant_effective_config


def requesting_client(next_url: str | None) -> Client | None:
    """The live client of an authorization request this sign-in will return to, if any."""
    if not next_url:
        return None
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or parts.path != reverse("oauth2_provider:authorize"):
        return None
    client_id = parse_qs(parts.query).get("client_id", [""])[-1]
    if not client_id or "\x00" in client_id:
        return None
    client = Client.objects.select_related("tenant").filter(client_id=client_id, disabled_at__isnull=True).first()
    return client if client is not None and client.tenant.is_active else None


def tenant_display_name(tenant: Tenant) -> str:
    return tenant_effective_config(tenant=tenant).get("branding", {}).get("display_name") or tenant.name


class SignInForm(LoginForm):
    """allauth's login form, with ``signing_in_to`` (a client) and ``tenant_name`` to show."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        next_url = None
        if self.request is not None:
            next_url = (self.request.POST if self.request.method == "POST" else self.request.GET).get("next")
        self.signing_in_to = requesting_client(next_url)
        self.tenant_name = tenant_display_name(self.signing_in_to.tenant) if self.signing_in_to else ""
