"""allauth's login form, told which tenant app the user is signing in to.

allauth hands its forms the request (ACCOUNT_FORMS); the sign-in context
(accounts.signin.context) names the client the page serves, so it can say where the
user is going, and whether that tenant takes passwords at all.
"""

from allauth.account.forms import LoginForm
from allauth.core import ratelimit
from django import forms
from django.utils.translation import gettext as _

from accounts.signin.context import next_parameter, signin_context


def login_hint(request) -> str:
    """The app's ``login_hint`` (Core 1.0, 3.1.2.1) when it is an email address, to prefill."""
    hint = next_parameter(request.GET.get("next"), "login_hint").strip()
    return hint if "@" in hint and len(hint) <= 254 and "\x00" not in hint else ""


class SignInForm(LoginForm):
    """allauth's login form, with ``signing_in_to`` (a client) and ``tenant_name`` to show.

    A tenant that has not enabled passwords refuses them here too, not only by leaving
    the field off its page; the refusal counts toward the failed-login limit.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        context = signin_context(self.request) if self.request is not None else None
        self.signing_in_to = context.client if context is not None else None
        self.tenant_name = context.display_name if self.signing_in_to else ""
        hint = login_hint(self.request) if self.request is not None else ""
        if hint and not self.is_bound:
            self.fields["login"].initial = hint

    def clean(self):
        if self.request is not None and not signin_context(self.request).allows("password"):
            ratelimit.consume(self.request, action="login_failed", key=self.data.get("login", "").lower())
            raise forms.ValidationError(
                _("%(tenant)s does not offer sign-in with a password. Choose another way below.")
                % {"tenant": signin_context(self.request).display_name},
                code="method_not_offered",
            )
        return super().clean()
