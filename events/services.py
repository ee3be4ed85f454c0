from typing import Any

from events.models import Event
from harbourmaster.actors import Actor


def event_record(*, actor: Actor, tenant, type: str, subject: str = "", payload: dict[str, Any] | None = None) -> Event:
    """Write one outbox event. Call it inside the transaction of the change it describes."""
    return Event.all_tenants.create(tenant=tenant, type=type, subject=subject, payload=payload or {}, actor=str(actor))


def events_record(
    *, actor: Actor, tenants, type: str, subject: str = "", payload: dict[str, Any] | None = None
) -> list[Event]:
    """The same event for several tenants (each hears of a change to a user it knows)."""
    events = [
        Event(tenant=tenant, type=type, subject=subject, payload=payload or {}, actor=str(actor)) for tenant in tenants
    ]
    return Event.all_tenants.bulk_create(events)
