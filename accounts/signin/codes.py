"""The tenant's rules for one-time sign-in codes (config ``login_methods`` and ``otp``).

A code method is on offer when the tenant lists it in ``login_methods`` *and* lets codes
travel over its channel (``otp.channels``): ``email_code`` needs ``email``, ``sms_code``
needs ``sms``. Codes are digits, as many as ``otp.length``.
"""

import string

from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _

from accounts.signin.context import SignInContext

CHANNEL_METHODS = {"email": "email_code", "sms": "sms_code"}


def code_channel_available(signin: SignInContext, channel: str) -> bool:
    return signin.allows(CHANNEL_METHODS[channel]) and channel in signin.otp["channels"]


def code_channels_available(signin: SignInContext) -> list[str]:
    return [channel for channel in CHANNEL_METHODS if code_channel_available(signin, channel)]


def code_generate(signin: SignInContext) -> str:
    return get_random_string(signin.otp["length"], allowed_chars=string.digits)


def code_channel_refusal(signin: SignInContext, channel: str) -> str:
    """What the page says when the tenant does not offer codes over ``channel``."""
    if channel == "sms":
        return _("%(name)s does not offer sign-in with a code by text message.") % {"name": signin.display_name}
    return _("%(name)s does not offer sign-in with a code by email.") % {"name": signin.display_name}


def code_minutes(signin: SignInContext) -> int:
    return max(1, signin.otp["ttl_seconds"] // 60)


def code_sms_text(signin: SignInContext, code: str) -> str:
    minutes = code_minutes(signin)
    return _("%(code)s is your sign-in code for %(name)s. It expires in %(minutes)d minutes. Never share it.") % {
        "code": code,
        "name": signin.display_name,
        "minutes": minutes,
    }
