"""The tenant's rules for one-time sign-in codes (config ``login_methods`` and ``otp``).

A code method is on offer when the tenant lists it in ``login_methods`` *and* lets codes
travel over its channel (``otp.channels``): ``email_code`` needs ``email``, ``sms_code``
needs ``sms``. Codes are digits, as many as ``otp.length``. A code is held to the rules of
the tenant it was made for (``signin_code_made``), not of whichever tenant a later page names.
"""

import string

from allauth.core import context as allauth_context
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.signin.context import SignInContext, signin_code_made

CHANNEL_METHODS = {"email": "email_code", "sms": "sms_code"}


def code_channel_available(signin: SignInContext, channel: str) -> bool:
    return signin.allows(CHANNEL_METHODS[channel]) and channel in signin.otp["channels"]


def code_channels_available(signin: SignInContext) -> list[str]:
    return [channel for channel in CHANNEL_METHODS if code_channel_available(signin, channel)]


def code_generate(signin: SignInContext) -> str:
    """A new code for the sign-in ``signin`` serves, remembered in the session as made for
    its client, so that the code page holds the code to that tenant's rules."""
    code = get_random_string(signin.otp["length"], allowed_chars=string.digits)
    # The adapter's hooks, which call this, are given no request: allauth's context has it.
    if allauth_context.request is not None:
        signin_code_made(allauth_context.request, client=signin.client, code=code)
    return code


def code_channel_refusal(signin: SignInContext, channel: str) -> str:
    """What the page says when the tenant does not offer codes over ``channel``."""
    if channel == "sms":
        return _("%(name)s does not offer sign-in with a code by text message.") % {"name": signin.display_name}
    return _("%(name)s does not offer sign-in with a code by email.") % {"name": signin.display_name}


def code_minutes(signin: SignInContext) -> int:
    return max(1, signin.otp["ttl_seconds"] // 60)


def code_sms_text(signin: SignInContext, code: str) -> str:
    minutes = code_minutes(signin)
    text = ngettext(
        "%(code)s is your sign-in code for %(name)s. It expires in %(minutes)d minute. Never share it.",
        "%(code)s is your sign-in code for %(name)s. It expires in %(minutes)d minutes. Never share it.",
        minutes,
    )
    return text % {"code": code, "name": signin.display_name, "minutes": minutes}
