"""allauth's login-by-code forms, held to the tenant's rules (ACCOUNT_FORMS).

Requesting a code: one channel per page (``channel=email|sms``), refused where the tenant
does not offer it; an address with no account yet signs up by code. Entering a code: the
tenant's lifetime and attempt limit apply on top of allauth's own (which settings set to
the schema's maxima), and every try counts toward the per-address limit.

Every refusal counts toward the rate limits, so guessing formats or methods costs the same
as guessing addresses.
"""

import re
import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import get_adapter
from allauth.account.fields import PhoneField
from allauth.account.forms import ConfirmLoginCodeForm, RequestLoginCodeForm, ResetPasswordForm
from allauth.account.internal.flows.login import perform_login, record_authentication
from allauth.account.internal.stagekit import clear_login
from allauth.account.models import Login
from allauth.account.utils import get_next_redirect_url
from allauth.core import context, ratelimit
from allauth.core.exceptions import ImmediateHttpResponse
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.oidc.backchannel import hub_issuer
from accounts.signin.codes import CHANNEL_METHODS, code_channel_available, code_channel_refusal, code_minutes
from accounts.signin.context import signin_context
from accounts.signin.limits import code_request_consume
from accounts.signin.services import (
    signin_address_proven_on,
    signin_code_account_ensure,
    signin_code_account_settle,
    signin_code_address_verified,
)


class PhoneNumberField(PhoneField):
    """allauth's E.164 phone field, forgiving the spaces, dashes and brackets people type."""

    def to_python(self, value):
        return re.sub(r"[\s\-().]", "", super().to_python(value))


def _too_many() -> ValidationError:
    return get_adapter().validation_error("too_many_login_attempts")


class RequestCodeForm(RequestLoginCodeForm):
    channel = forms.ChoiceField(
        choices=[(name, name) for name in CHANNEL_METHODS], widget=forms.HiddenInput, required=False
    )
    _counted = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = context.request
        self.signin = signin_context(self.request)
        self.chosen_channel = self._chosen_channel()
        self.fields["channel"].initial = self.chosen_channel
        self.fields.pop("phone", None)
        if self.chosen_channel == "sms":
            self.fields.pop("email", None)
            self.fields["phone"] = get_adapter().phone_form_field(required=True)
            self.fields["phone"].label = gettext_lazy("Mobile phone number")
            self.fields["phone"].help_text = gettext_lazy("With the country code, e.g. +49 151 23456789.")
        else:
            self.fields["email"].required = True
            self.fields["email"].label = gettext_lazy("Email")
        self.order_fields(["email", "phone", "channel"])

    def _chosen_channel(self) -> str:
        source = self.data if self.is_bound else self.request.GET
        chosen = source.get("channel")
        if chosen in CHANNEL_METHODS:
            return chosen
        available = [name for name in CHANNEL_METHODS if code_channel_available(self.signin, name)]
        return available[0] if available else "email"

    @property
    def method_available(self) -> bool:
        return code_channel_available(self.signin, self.chosen_channel)

    @property
    def refusal(self) -> str:
        return code_channel_refusal(self.signin, self.chosen_channel)

    def clean(self):
        cleaned_data = super().clean()
        if not self.method_available:
            self._count_refusal()
            raise ValidationError(self.refusal, code="method_disabled")
        if self._errors:
            self._count_refusal()
            return cleaned_data
        if getattr(self, "_user", None) is None:
            # No account under this address (or none that may sign in): sign up by code.
            self._user = signin_code_account_ensure(
                email=cleaned_data.get("email"), phone=cleaned_data.get("phone"), tenant=self.signin.tenant
            )
        return cleaned_data

    def clean_email(self) -> str:
        self._counted = True  # allauth's clean_email counts the client's IP, the hub the address
        return self._count_address(super().clean_email())

    def clean_phone(self) -> str:
        self._counted = True
        return self._count_address(super().clean_phone())

    def _count_address(self, address: str) -> str:
        if address and not code_request_consume(self.request, address=address.lower()):
            raise _too_many()
        return address

    def _count_refusal(self) -> None:
        """Bad input costs like a real request: against the address typed and the client's IP."""
        if self._counted:
            return
        self._counted = True
        raw = (self.data.get("email") or self.data.get("phone") or "-").strip().lower()
        allowed = ratelimit.consume(self.request, action="request_login_code", key=raw)
        if not (allowed and code_request_consume(self.request, address=raw)):
            self.add_error(None, _too_many())


class ConfirmCodeForm(ConfirmLoginCodeForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = context.request
        self.signin = signin_context(self.request)
        self.fields["code"].label = gettext_lazy("Code")
        self.fields["code"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "one-time-code"})

    @property
    def code_minutes(self) -> int:
        return code_minutes(self.signin)

    @property
    def _stage(self):
        # allauth's login_stage_required puts the pending sign-in's stage on the request;
        # its state is the code process's state (the code, when it was sent, failed tries).
        return self.request._login_stage

    def clean_code(self) -> str:
        try:
            return self._clean_code()
        except ValidationError:
            self._spend_attempt()
            raise

    def _clean_code(self) -> str:
        state = self._stage.state
        if not ratelimit.consume(self.request, action="confirm_login_code"):
            raise _too_many()
        channel = "sms" if state.get("phone") else "email"
        if not code_channel_available(self.signin, channel):
            raise ValidationError(code_channel_refusal(self.signin, channel), code="method_disabled")
        if time.time() - state["at"] > self.signin.otp["ttl_seconds"]:
            raise ValidationError(_("This code has expired. Ask for a new one."), code="expired_code")
        return super().clean_code()

    def clean(self):
        cleaned_data = super().clean()
        if self._errors or self._stage.login.user is None:
            return cleaned_data
        state, user = self._stage.state, self._stage.login.user
        if not state.get("initiated_by_user", True):
            # A step of a sign-in the user began otherwise (a password): that account's address.
            signin_code_address_verified(user=user, email=state.get("email"), phone=state.get("phone"))
            return cleaned_data
        # The code came back: the address is proven, and opens only an account it is verified
        # on (allauth then finds it verified), which need not be the one it was sent for.
        account = signin_code_account_settle(
            email=state.get("email"),
            phone=state.get("phone"),
            tenant=self.signin.tenant,
            issuer=hub_issuer(self.request),
        )
        if account is None:
            raise get_adapter().validation_error("account_inactive")
        if account.pk != user.pk:
            raise ImmediateHttpResponse(self._sign_in_instead(account))
        # allauth signs in the user it loaded: with the password and session generation the
        # settling may have just replaced, the new session would hold a stale hash and end.
        user.refresh_from_db()
        return cleaned_data

    def _sign_in_instead(self, account: User) -> HttpResponse:
        """allauth's end of a code sign-in (``LoginCodeVerificationProcess.finish``), for the
        account the code proved rather than the account allauth sent it for."""
        state = self._stage.state
        clear_login(self.request)
        record_authentication(self.request, account, method="code", email=state.get("email"), phone=state.get("phone"))
        login = Login(user=account, redirect_url=get_next_redirect_url(self.request), email=state.get("email"))
        return perform_login(self.request, login)

    def _spend_attempt(self) -> None:
        """Hold the code to the tenant's ``max_attempts``: at the last allowed miss, spend
        all of allauth's attempts, so that allauth drops the code and says so."""
        state = self._stage.state
        if state["failed_attempts"] + 1 >= self.signin.otp["max_attempts"]:
            state["failed_attempts"] = max(state["failed_attempts"], account_settings.LOGIN_BY_CODE_MAX_ATTEMPTS - 1)


class HubResetPasswordForm(ResetPasswordForm):
    """allauth's request for a reset link, for the tenant the sign-in serves.

    Asked from a tenant app's sign-in (``next``), allauth goes straight back there instead
    of to its done page, so the page it lands on says what the done page would: the same
    words whether or not the address has an account.
    """

    def clean_email(self) -> str:
        """Only accounts on which the address is proven get a reset link: one that merely
        names it (typed at a sign-up, added by a tenant) would hand whoever reads the mail a
        password to someone else's account. The answer is the same either way."""
        email = super().clean_email()
        self.users = [user for user in self.users if signin_address_proven_on(user, email=email)]
        return email

    def save(self, request, **kwargs) -> str:
        email = super().save(request, **kwargs)
        if signin_context(request).from_next:
            messages.info(
                request,
                _(
                    "If an account uses the address you entered, we have sent it a link to choose a new "
                    "password. It can take a few minutes to arrive; check your spam folder too."
                ),
            )
        return email
