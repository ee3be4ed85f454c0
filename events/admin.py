"""Admin for the outbox: what each tenant was told, and when. Read-only."""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from events.models import Event
from harbourmaster.admin import AllTenantsAdminMixin, LargeTableAdminMixin, ReadOnlyAdminMixin, input_filter

TypeFilter = input_filter("type", gettext_lazy("type"), "type")


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, AllTenantsAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "tenant", "type", "subject", "actor")
    list_select_related = ("tenant",)
    list_filter = ("tenant", TypeFilter)
    raw_id_fields = ("tenant",)
    search_fields = ("uuid__exact",)
    search_help_text = gettext_lazy("The event's exact uuid.")
    fields = ("uuid", "tenant", "type", "subject", "actor", "created_at", "payload_json")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("payload"))
    def payload_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))
