"""What a token says about a user, without a server: scopes, formats, subjects."""

import datetime

from accounts.oidc.claims import subject_for, user_claims
from accounts.oidc.scopes import client_scopes
from tenants.services import tenant_config_update


def test_each_scope_adds_only_its_claims(world):
    world.alice.phone_number = "+4930123456"
    world.alice.address_street = "Hafenstraße 1"
    world.alice.birthdate = datetime.date(1990, 5, 17)
    world.alice.save()
    tenant = world.acme.tenant
    assert user_claims(user=world.alice, tenant=tenant, scopes=["openid"]) == {"sub": str(world.alice.uuid)}
    assert user_claims(user=world.alice, tenant=tenant, scopes=["openid", "phone"]) == {
        "sub": str(world.alice.uuid),
        "phone_number": "+4930123456",
        "phone_number_verified": False,
    }
    assert user_claims(user=world.alice, tenant=tenant, scopes=["address"])["address"] == {
        "street_address": "Hafenstraße 1",
        "country": "DE",
    }
    profile = user_claims(user=world.alice, tenant=tenant, scopes=["profile"])
    assert profile["birthdate"] == "1990-05-17"
    assert "nickname" not in profile  # empty claims are left out, not sent blank


def test_a_verification_flag_needs_its_value(world, make_user):
    user = make_user(phone_number="+4930999999")
    claims = user_claims(user=user, tenant=world.acme.tenant, scopes=["email", "phone"])
    assert "email" not in claims and "email_verified" not in claims
    assert claims["phone_number_verified"] is False


def test_pairwise_subjects_differ_per_tenant_and_stay_stable(world, actor):
    for tenant in (world.acme.tenant, world.bolt.tenant):
        tenant_config_update(actor=actor, tenant=tenant, config={"subject_type": "pairwise"}, partial=True)
    acme = subject_for(user=world.alice, tenant=world.acme.tenant)
    assert acme == subject_for(user=world.alice, tenant=world.acme.tenant)
    assert acme != subject_for(user=world.alice, tenant=world.bolt.tenant)
    assert acme != subject_for(user=world.bob, tenant=world.acme.tenant)
    assert str(world.alice.uuid) not in acme


def test_client_scopes_are_the_clients_within_the_tenants(world, actor):
    assert client_scopes(world.acme.app) == {"openid", "profile", "email"}
    assert client_scopes(world.acme.backend) == {"users:read"}
    tenant_config_update(actor=actor, tenant=world.acme.tenant, config={"allowed_scopes": ["openid"]}, partial=True)
    world.acme.app.refresh_from_db()
    assert client_scopes(world.acme.app) == {"openid"}
