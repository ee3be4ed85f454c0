"""allauth's account adapter: where each tenant's sign-in rules meet allauth.

Every hook reads the tenant from ``signin_context(request)``. Code sign-in (email and
SMS): codes of the tenant's length, phone numbers kept on the user (``phone_number``,
``phone_number_verified``), text messages sent by ``accounts.sms`` after commit. Every
account mail (codes, confirmation and password-reset links) is sent by a worker after commit.
"""

import time
from urllib.parse import urlencode

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.core import context as allauth_context  # send_mail's argument hides the name
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from accounts.models import User, normalize_email
from accounts.signin.codes import code_generate, code_minutes, code_sms_text
from accounts.signin.context import SignInContext, authorization_request_url, signin_context, signin_return_url
from accounts.signin.services import (
    signin_code_address_verified,
    signin_email_follow,
    signin_mail_schedule,
    signin_phone_set,
    signin_signed_up,
)
from accounts.sms.services import sms_schedule
from harbourmaster.client_address import client_address

# Sign-ins that proved something: a guest's device cookie proves nothing.
CREDENTIAL_METHODS = ("password", "code", "mfa", "socialaccount")
EMAIL_VERIFICATION_STAGE = "allauth.account.stages.EmailVerificationStage"
SIGNED_IN_MESSAGE = "account/messages/logged_in.txt"


class HubAccountAdapter(DefaultAccountAdapter):
    def _signin(self) -> SignInContext:
        request: HttpRequest = self.request or context.request
        return signin_context(request)

    # --- The client's address, for the sign-in limits -------------------------------------

    def get_client_ip(self, request: HttpRequest) -> str:
        """The client as every limit of the hub finds it (``harbourmaster.client_address``:
        X-Forwarded-For per TRUSTED_PROXY_COUNT, else the peer); allauth's limits then cut
        IPv6 to its /64, as the hub's own do."""
        address = client_address(request)
        if address is None:
            raise PermissionDenied("Unable to determine client IP address")
        return address

    # --- Re-authentication ---------------------------------------------------------------

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """Not again right after signing in: allauth counts only explicit re-authentications,
        so a user sent to enrol an authenticator straight from the login page (a tenant that
        requires MFA) would type the password twice in a row."""
        request = self.request or context.request
        if request is not None and request.user.is_authenticated:
            records = get_authentication_records(request, request.user)
            proofs = [record["at"] for record in records if record.get("method") in CREDENTIAL_METHODS]
            if proofs and time.time() - max(proofs) < account_settings.REAUTHENTICATION_TIMEOUT:
                return False
        return super().is_reauthentication_required(app=app, **kwargs)

    # --- Messages ---------------------------------------------------------------------------

    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="", message=None):
        """Not "Successfully signed in": a sign-in goes on to an app, which shows who is signed
        in; the hub's message would wait in a cookie for the next hub page, however much later,
        and rendering it cost every login a template (bench/signin)."""
        if message_template == SIGNED_IN_MESSAGE:
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)

    # --- Sign-up ---------------------------------------------------------------------------

    def save_user(self, request: HttpRequest, user: User, form, commit: bool = True) -> User:
        """allauth's sign-up form saves the user; the served tenant hears of it in the same
        transaction (membership and ``user.created``, as ``user_register`` leaves them)."""
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                signin_signed_up(user=user, tenant=signin_context(request).tenant)
        return user

    # --- Confirming an address -------------------------------------------------------------

    def confirm_email(self, request: HttpRequest, email_address) -> bool:
        """allauth's confirmation; where the address is the user's email now, ``email_verified``
        follows it (``signin_email_follow``). allauth may have made it primary on the way and
        written ``User.email`` itself: read before, what the email was is still known."""
        previous = User.objects.filter(pk=email_address.user_id).values_list("email", flat=True).first()
        with transaction.atomic():
            confirmed = super().confirm_email(request, email_address)
            user = email_address.user
            if confirmed and normalize_email(email_address.email) == user.email:
                signin_email_follow(user=user, previous_email=previous)
        return confirmed

    # --- Back to the app ------------------------------------------------------------------

    def is_safe_url(self, url: str) -> bool:
        """allauth's check, but a ``next`` that is no URL at all ("http://[", which
        ``urlparse`` refuses with ValueError) is no safe target, not a server error."""
        try:
            return super().is_safe_url(url)
        except ValueError:
            return False

    def get_email_verification_redirect_url(self, email_address) -> str:
        """After confirming an address, go on with the app's sign-in this session started."""
        return_to = signin_return_url(self.request)
        if return_to is None:
            return super().get_email_verification_redirect_url(email_address)
        if self.request.user.is_authenticated:
            return return_to
        return f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': return_to})}"

    # --- Password reset ---------------------------------------------------------------------

    def get_reset_password_from_key_url(self, key: str) -> str:
        """The link in the reset mail goes on with the app's sign-in it was asked from, so the
        page that takes the new password wears that tenant and then returns to the app."""
        url = super().get_reset_password_from_key_url(key)
        request = self.request or context.request
        if request is None or not signin_context(request).from_next:
            return url
        return f"{url}?{urlencode({'next': authorization_request_url(request)})}"

    # --- Codes ---------------------------------------------------------------------------

    def generate_login_code(self) -> str:
        return code_generate(self._signin())

    def generate_phone_verification_code(self, *, user, phone: str) -> str:
        return code_generate(self._signin())

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        signin = self._signin()
        context = {**context, "tenant_name": signin.display_name, "code_minutes": code_minutes(signin)}
        # allauth's own send_mail, but the rendered message goes to a worker after commit:
        # codes, confirmation and reset links alike, and the answer to an unknown address,
        # so that no page waits on the mail server or tells by its speed whom the hub knows.
        request = allauth_context.request
        context = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        signin_mail_schedule(message=self.render_mail(template_prefix, email, context))

    def send_verification_code_sms(self, user, phone: str, code: str, **kwargs) -> None:
        sms_schedule(to=phone, text=code_sms_text(self._signin(), code))

    def get_login_stages(self) -> list[str]:
        stages = super().get_login_stages()
        return [
            "accounts.signin.stages.HubEmailVerificationStage" if path == EMAIL_VERIFICATION_STAGE else path
            for path in stages
        ]

    # --- Phone numbers: the user's ``phone_number`` claim ----------------------------------

    def phone_form_field(self, **kwargs):
        from accounts.signin.forms import PhoneNumberField

        return PhoneNumberField(**kwargs)

    def get_user_by_phone(self, phone: str) -> User | None:
        """The account a code for ``phone`` is sent for, verified or not: which account the
        code opens is decided when it comes back (``signin_code_account_settle``)."""
        return User.objects.filter(phone_number=phone, is_active=True, kind=User.Kind.REGISTERED).first()

    def get_phone(self, user: User) -> tuple[str, bool] | None:
        return (user.phone_number, user.phone_number_verified) if user.phone_number else None

    def set_phone(self, user: User, phone: str, verified: bool) -> None:
        signin_phone_set(user=user, phone=phone, verified=verified)

    def set_phone_verified(self, user: User, phone: str) -> None:
        signin_code_address_verified(user=user, phone=phone)
