"""allauth's EmailAddress admin, with a "mark verified" action that needs the change permission
and that the user's ``email_verified`` follows.

A verified address signs in by code (docs/decisions/0033), so staff who may only view
addresses must not verify one; and where the address is the user's email, the hub's
``email_verified`` and the user's tenants hear of it through ``user_email_follow``, as when
the user confirms it. Registered from ``accounts.admin`` (``email_address_admin_register()``).
"""

from allauth.account.admin import EmailAddressAdmin
from allauth.account.models import EmailAddress
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from accounts.signin.services import signin_address_verify
from harbourmaster.admin import staff_actor


class HubEmailAddressAdmin(EmailAddressAdmin):
    actions = ("make_verified",)
    # Addresses are the users' (their pages, a code, a confirmation link): staff verify one by
    # the action, which the user's email_verified follows; nothing is typed in or ticked here.
    readonly_fields = ("user", "email", "verified", "primary")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description=_("Mark selected email addresses as verified"), permissions=["change"])
    def make_verified(self, request, queryset) -> None:
        for address in queryset.filter(verified=False).select_related("user"):
            if signin_address_verify(actor=staff_actor(request), address=address, request=request):
                self.message_user(request, _("Marked {email} as verified.").format(email=address.email))
            else:
                self.message_user(
                    request, _("Failed to mark {email} as verified.").format(email=address.email), messages.ERROR
                )


def email_address_admin_register(site: admin.AdminSite = admin.site) -> None:
    if site.is_registered(EmailAddress):
        site.unregister(EmailAddress)
    site.register(EmailAddress, HubEmailAddressAdmin)
