"""allauth's address page (``/accounts/email/``) writes ``User.email`` itself: when an
address is made primary, and when the address it names is removed. The hub's
``email_verified`` then follows the address allauth put there, and the user's tenants hear
of the change (docs/decisions/0033). A confirmation goes through the account adapter
(``HubAccountAdapter.confirm_email``), where the address before it is still known.
"""

from allauth.account.models import EmailAddress
from allauth.account.signals import email_changed, email_removed
from django.dispatch import receiver

from accounts.signin.services import signin_email_follow


@receiver(email_changed, dispatch_uid="accounts.signin.addresses.primary_changed")
def _primary_changed(sender, user, from_email_address, to_email_address, **kwargs) -> None:
    previous = from_email_address.email if from_email_address is not None else None
    signin_email_follow(user=user, previous_email=previous)


@receiver(email_removed, dispatch_uid="accounts.signin.addresses.removed")
def _address_removed(sender, user, email_address, **kwargs) -> None:
    """allauth replaces ``User.email`` only when the removed address was it, and a primary
    address cannot be removed while others remain: where the primary address is still the
    user's email, nothing changed. Otherwise allauth may have put another address there,
    verified or not, and does not say what was there before."""
    if not EmailAddress.objects.filter(user=user, primary=True, email__iexact=user.email or "").exists():
        signin_email_follow(user=user, previous_email=None)
