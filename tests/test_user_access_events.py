"""A deactivated or reactivated user is news to every tenant that knows them."""

from types import SimpleNamespace

from django.contrib import admin
from django.test import RequestFactory

from accounts.models import User
from accounts.services import user_deactivate, user_reactivate
from events.models import Event
from tests.conftest import SYSTEM


def told(user, type: str) -> list[str]:
    events = Event.all_tenants.filter(type=type, subject=str(user.uuid))
    return sorted(events.values_list("tenant__slug", flat=True))


def test_the_users_tenants_hear_of_a_deactivation_and_a_reactivation_once_each(world):
    alice = world.alice  # she consents to acme's newsletter; bolt does not know her
    user_deactivate(actor=SYSTEM, user=alice, issuer="https://hub.example")
    user_deactivate(actor=SYSTEM, user=User.objects.get(pk=alice.pk), issuer="https://hub.example")
    assert told(alice, "user.deactivated") == ["acme"]
    user_reactivate(actor=SYSTEM, user=User.objects.get(pk=alice.pk))
    user_reactivate(actor=SYSTEM, user=User.objects.get(pk=alice.pk))
    assert told(alice, "user.reactivated") == ["acme"]
    assert User.objects.get(pk=alice.pk).is_active


def test_staff_switching_the_active_box_goes_through_the_services(world):
    user_admin = admin.site._registry[User]
    request = RequestFactory().post("/admin/")
    request.user = world.staff
    for active in (False, True):
        form = SimpleNamespace(cleaned_data={"is_active": active}, changed_data=["is_active"])
        user_admin.save_model(request, User.objects.get(pk=world.alice.pk), form, change=True)
        assert User.objects.get(pk=world.alice.pk).is_active is active
    assert told(world.alice, "user.deactivated") == told(world.alice, "user.reactivated") == ["acme"]
