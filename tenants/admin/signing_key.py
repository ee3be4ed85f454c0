from django.contrib import admin, messages

from harbourmaster.admin import ReadOnlyAdminMixin, staff_actor
from tenants.keys import signing_key_rotate
from tenants.models import SigningKey


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The token-signing keys. The private key is never shown; rotation is the only write."""

    list_display = ["kid", "algorithm", "created_at", "activated_at", "retired_at", "created_by"]
    list_filter = ["algorithm"]
    fields = ["kid", "algorithm", "created_at", "activated_at", "retired_at", "created_by"]
    readonly_fields = fields
    ordering = ["-activated_at", "-id"]
    actions = ["rotate"]

    @admin.action(
        description="Rotate the selected keys' algorithms: publish a new key now, signing with it after the JWKS cache lifetime"
    )
    def rotate(self, request, queryset):
        # Each algorithm rotates on its own; selecting two keys of one rotates it once.
        for algorithm in sorted(set(queryset.values_list("algorithm", flat=True))):
            key = signing_key_rotate(actor=staff_actor(request), algorithm=algorithm)
            self.message_user(
                request,
                f"New {algorithm} key {key.kid} signs from {key.activated_at:%Y-%m-%d %H:%M} UTC.",
                messages.SUCCESS,
            )

    def has_rotate_permission(self, request):
        return request.user.is_superuser
