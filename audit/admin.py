"""Admin for the access audit: which tenant read whose data, and why. Read-only.

Subjects have their own lists, filtered by record or user: an export may name a million users,
so they are never an inline. Pages and lookups name users in subject rows, streams in blocks
of ids (docs/decisions/0009).
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy, ngettext

from audit.models import AccessRecord, AccessRecordSubject, AccessRecordSubjectBlock
from harbourmaster.admin import (
    AllTenantsAdminMixin,
    EmailSearchMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    input_filter,
)

ActionFilter = input_filter("action", gettext_lazy("action"), "action")
PurposeFilter = input_filter("purpose", gettext_lazy("purpose"), "purpose")
UserIdFilter = input_filter("user_id", gettext_lazy("user id"), "user", cast=int)
RecordIdFilter = input_filter("record_id", gettext_lazy("access record id"), "record", cast=int)


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyAdminMixin, AllTenantsAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("id", "occurred_at", "tenant", "client", "action", "purpose", "subject_count", "request_id")
    list_select_related = ("tenant", "client")
    list_filter = ("tenant", ActionFilter, PurposeFilter)
    raw_id_fields = ("tenant", "client")
    search_fields = ("request_id__exact",)
    search_help_text = gettext_lazy("The exact request id.")
    fields = ("tenant", "client", "action", "purpose", "fields", "subjects", "request_id", "occurred_at")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("users read"))
    def subjects(self, obj):
        listing = "accessrecordsubjectblock" if obj.subject_blocks.exists() else "accessrecordsubject"
        url = reverse(f"admin:audit_{listing}_changelist") + f"?record={obj.pk}"
        label = ngettext("%d user", "%d users", obj.subject_count) % obj.subject_count
        return format_html('<a href="{}">{}</a>', url, label)


@admin.register(AccessRecordSubject)
class AccessRecordSubjectAdmin(
    ReadOnlyAdminMixin, AllTenantsAdminMixin, EmailSearchMixin, LargeTableAdminMixin, admin.ModelAdmin
):
    list_display = ("id", "user", "record", "record_tenant", "record_action", "record_purpose", "record_time")
    list_select_related = ("user", "record__tenant")
    list_filter = (UserIdFilter, RecordIdFilter, "record__tenant")
    raw_id_fields = ("record", "user")
    search_fields = ("user__email__exact", "user__uuid__exact")
    search_help_text = gettext_lazy("The user's exact email or uuid.")
    # The (user, -record) index answers "who saw this user's data" in this order.
    ordering = ("-record_id", "-pk")
    fields = ("user", "record", "record_tenant", "record_action", "record_purpose", "record_time")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("tenant"))
    def record_tenant(self, obj):
        return obj.record.tenant

    @admin.display(description=gettext_lazy("action"))
    def record_action(self, obj):
        return obj.record.action

    @admin.display(description=gettext_lazy("purpose"))
    def record_purpose(self, obj):
        return obj.record.purpose

    @admin.display(description=gettext_lazy("when"))
    def record_time(self, obj):
        return obj.record.occurred_at


def _user_ids(value: str) -> list[int]:
    """The id typed in, as a list to look for; one no user can have (beyond bigint) does not cast."""
    return [get_user_model()._meta.pk.clean(value, None)]


BlockUserIdFilter = input_filter("user_ids__contains", gettext_lazy("user id"), "user", cast=_user_ids)


@admin.register(AccessRecordSubjectBlock)
class AccessRecordSubjectBlockAdmin(ReadOnlyAdminMixin, AllTenantsAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """The users a stream sent, thousands a row; ?user=<id> finds the streams that named
    one user (through the index of each block's span of ids)."""

    list_display = ("id", "record", "user_count", "record_tenant", "record_action", "record_purpose", "record_time")
    list_select_related = ("record__tenant",)
    list_filter = (BlockUserIdFilter, RecordIdFilter, "record__tenant")
    raw_id_fields = ("record",)
    ordering = ("-record_id", "-pk")
    fields = ("record", "user_count", "user_ids", "record_tenant", "record_action", "record_purpose", "record_time")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("users"))
    def user_count(self, obj):
        return len(obj.user_ids)

    record_tenant = AccessRecordSubjectAdmin.record_tenant
    record_action = AccessRecordSubjectAdmin.record_action
    record_purpose = AccessRecordSubjectAdmin.record_purpose
    record_time = AccessRecordSubjectAdmin.record_time
