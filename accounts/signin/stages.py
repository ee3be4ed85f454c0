"""Login stages the hub adjusts (adapter.get_login_stages)."""

from allauth.account.authentication import get_authentication_records
from allauth.account.stages import EmailVerificationStage


class HubEmailVerificationStage(EmailVerificationStage):
    """Mandatory email verification, except for sign-ins proven by a code sent by SMS.

    An account made by an SMS code has no email address to verify, and a user who just
    proved a phone number does not need to prove an email address to get in.
    """

    def handle(self):
        user = self.login.user
        if user is not None and (not user.email or self._proven_by_sms_code()):
            return None, True
        return super().handle()

    def _proven_by_sms_code(self) -> bool:
        records = get_authentication_records(self.request, self.login.user)
        return bool(records) and records[-1].get("method") == "code" and bool(records[-1].get("phone"))
