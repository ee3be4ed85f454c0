"""A user a tenant pushed, imported or staff added, who then signs in to one of its apps,
is a member who signed in (``Membership.source = sign_in``): decision 9 opens such users to
the tenant for contract purposes, as first-hand contacts."""

import pytest

from accounts.models import Membership
from accounts.services import membership_link, user_push
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db(transaction=True)


def membership_of(user, tenant) -> Membership:
    return Membership.all_tenants.get(user=user, tenant=tenant)


def test_a_user_the_tenant_pushed_who_signs_in_to_its_app_is_a_member_who_signed_in(provider, world, sign_in):
    pushed, _created, _changed = user_push(
        actor=SYSTEM, tenant=world.acme.tenant, external_id="crm-17", profile={"email": "pushed@example.org"}
    )
    assert membership_of(pushed, world.acme.tenant).source == Membership.Source.API

    sign_in(world.acme.app, pushed)

    membership = membership_of(pushed, world.acme.tenant)
    assert membership.source == Membership.Source.SIGN_IN
    assert membership.external_id == "crm-17"  # the tenant's own id stays


def test_a_user_staff_added_who_signs_in_is_a_member_who_signed_in(provider, world, sign_in):
    membership_link(actor=SYSTEM, user=world.carol, tenant=world.bolt.tenant, source=Membership.Source.ADMIN)
    sign_in(world.bolt.app, world.carol)
    assert membership_of(world.carol, world.bolt.tenant).source == Membership.Source.SIGN_IN


def test_signing_in_to_one_tenant_leaves_the_other_tenants_push_as_it_was(provider, world, sign_in):
    pushed, _created, _changed = user_push(
        actor=SYSTEM, tenant=world.bolt.tenant, profile={"email": "pushed@example.org", "email_verified": True}
    )
    sign_in(world.acme.app, pushed)
    assert membership_of(pushed, world.bolt.tenant).source == Membership.Source.API
    assert membership_of(pushed, world.acme.tenant).source == Membership.Source.SIGN_IN


def test_a_push_after_a_sign_in_leaves_the_membership_signed_in(provider, world, sign_in):
    sign_in(world.acme.app, world.alice)
    user_push(actor=SYSTEM, tenant=world.acme.tenant, external_id="crm-1", profile={"email": "alice@example.org"})
    membership = membership_of(world.alice, world.acme.tenant)
    assert (membership.source, membership.external_id) == (Membership.Source.SIGN_IN, "crm-1")
