from events.models import Event


def events_after(*, after_id: int = 0, limit: int = 100) -> list[Event]:
    """The current tenant's change feed: events after a cursor, oldest first."""
    return list(Event.objects.filter(id__gt=after_id).order_by("id")[:limit])
