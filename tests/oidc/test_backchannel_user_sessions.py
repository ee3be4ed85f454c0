"""Back-Channel Logout beyond the user's own sign-out: when an account is deactivated or
deleted, or staff sign a user out everywhere, every hub session of theirs ends and each
client it signed in to is told (decision 21). Real receivers, as in
test_backchannel_logout.py, and the real authorization-code flow."""

from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import reverse
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from accounts.oidc.backchannel import user_sessions_logout_announce
from accounts.services import user_deactivate
from harbourmaster.actors import Actor
from tenants.models import ClientSession
from tests.test_admin import resubmit

from .test_backchannel_logout import (  # noqa: F401 - fixtures
    app_of,
    cove,
    receiver,
    sign_in_through,
    verified_logout_token,
)

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = Actor.system("tests-staff")


@pytest.fixture
def alice_everywhere(provider, world, cove, make_client, browser, receiver):  # noqa: F811 - fixtures
    """Alice signed in to acme's and cove's apps on her laptop and to acme's on her phone;
    Bob to acme's app; a bolt app with no back-channel URI."""
    acme_rp, cove_rp = receiver(200), receiver(200)
    acme_app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=acme_rp.url)
    cove_app = app_of(make_client, cove, backchannel_logout_uri=cove_rp.url)
    bolt_app = app_of(make_client, world.bolt.tenant)
    laptop, phone, bobs = browser(world.alice), browser(world.alice), browser(world.bob)
    signed_in = {
        "laptop": [sign_in_through(laptop, provider, app) for app in (acme_app, cove_app, bolt_app)],
        "phone": [sign_in_through(phone, provider, acme_app)],
        "bob": [sign_in_through(bobs, provider, acme_app)],
    }
    return acme_rp, cove_rp, signed_in, laptop


def sids_told(rp, provider, client) -> list[str]:
    keys = provider.keys()
    return sorted(
        verified_logout_token(token, keys, issuer=provider.issuer, audience=client.client_id)["sid"]
        for token in rp.logout_tokens
    )


def test_deactivating_a_user_logs_out_every_session_of_theirs_at_every_client(provider, world, alice_everywhere):
    acme_rp, cove_rp, signed_in, laptop = alice_everywhere
    acme_app, cove_app = signed_in["laptop"][0].client, signed_in["laptop"][1].client

    user_deactivate(actor=STAFF, user=world.alice, issuer=provider.issuer)

    laptop_acme, laptop_cove = signed_in["laptop"][0].claims, signed_in["laptop"][1].claims
    phone_acme = signed_in["phone"][0].claims
    assert sids_told(acme_rp, provider, acme_app) == sorted([laptop_acme["sid"], phone_acme["sid"]])
    assert sids_told(cove_rp, provider, cove_app) == [laptop_cove["sid"]]
    subjects = {
        verified_logout_token(token, provider.keys(), issuer=provider.issuer, audience=cove_app.client_id)["sub"]
        for token in cove_rp.logout_tokens
    }
    assert subjects == {laptop_cove["sub"]}
    # Bob, signed in to the same client, is neither told about nor logged out.
    bobs_sid = signed_in["bob"][0].claims["sid"]
    assert bobs_sid not in sids_told(acme_rp, provider, acme_app)
    assert list(ClientSession.objects.values_list("user_id", flat=True)) == [world.bob.pk]
    # And the hub session itself is over: the authorization endpoint asks for a sign-in.
    world.alice.refresh_from_db()
    assert world.alice.is_active is False
    response = laptop.get(f"{provider.issuer}/accounts/email/", allow_redirects=False, timeout=10)
    assert response.status_code == 302 and "/accounts/login/" in response.headers["Location"]


def test_deactivating_twice_sends_nothing_more(provider, world, alice_everywhere):
    acme_rp, cove_rp, _signed_in, _laptop = alice_everywhere
    user_deactivate(actor=STAFF, user=world.alice, issuer=provider.issuer)
    told = len(acme_rp.logout_tokens) + len(cove_rp.logout_tokens)
    user_deactivate(actor=STAFF, user=world.alice, issuer=provider.issuer)
    assert len(acme_rp.logout_tokens) + len(cove_rp.logout_tokens) == told == 3


def test_deactivating_without_a_known_issuer_tells_nobody_but_still_deactivates(provider, world, alice_everywhere):
    acme_rp, cove_rp, _signed_in, _laptop = alice_everywhere
    assert not oauth2_settings.OIDC_ISS_ENDPOINT  # the tests derive the issuer from requests
    user_deactivate(actor=STAFF, user=world.alice)
    world.alice.refresh_from_db()
    assert world.alice.is_active is False
    assert acme_rp.received == [] and cove_rp.received == []
    # The sessions are kept: the hourly prune removes them as for any expired session.
    assert ClientSession.objects.filter(user=world.alice).count() == 3


def test_deactivating_uses_the_configured_issuer(provider, world, alice_everywhere, settings):
    acme_rp, _cove_rp, signed_in, _laptop = alice_everywhere
    with override_settings(OAUTH2_PROVIDER={**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": provider.issuer}):
        user_deactivate(actor=STAFF, user=world.alice)
    assert len(sids_told(acme_rp, provider, signed_in["laptop"][0].client)) == 2


def test_a_user_about_to_be_deleted_is_logged_out_everywhere_first(provider, world, alice_everywhere):
    # What erasure, or staff signing a user out everywhere, calls before the user's rows go.
    acme_rp, cove_rp, _signed_in, _laptop = alice_everywhere
    queued = user_sessions_logout_announce(actor=STAFF, user=world.alice, issuer=provider.issuer)
    assert queued == 3 == len(acme_rp.logout_tokens) + len(cove_rp.logout_tokens)
    assert not ClientSession.objects.filter(user=world.alice).exists()
    assert ClientSession.objects.filter(user=world.bob).exists()


def test_staff_unticking_active_in_the_admin_logs_the_user_out_at_every_client(
    provider, world, alice_everywhere, client
):
    acme_rp, cove_rp, signed_in, _laptop = alice_everywhere
    acme_app = signed_in["laptop"][0].client
    client.force_login(world.staff)
    # Staff use the admin on the hub's own host: the issuer the apps' ID tokens name.
    host = urlsplit(provider.issuer).netloc
    page = client.get(reverse("admin:accounts_user_change", args=[world.alice.pk]), HTTP_HOST=host)

    response = client.post(
        reverse("admin:accounts_user_change", args=[world.alice.pk]), resubmit(page, is_active=None), HTTP_HOST=host
    )

    assert response.status_code == 302
    world.alice.refresh_from_db()
    assert world.alice.is_active is False
    told = sorted(
        verified_logout_token(token, provider.keys(), issuer=provider.issuer, audience=acme_app.client_id)["sid"]
        for token in acme_rp.logout_tokens
    )
    assert told == sorted([signed_in["laptop"][0].claims["sid"], signed_in["phone"][0].claims["sid"]])
    assert len(cove_rp.logout_tokens) == 1
    assert not ClientSession.objects.filter(user=world.alice).exists()


def test_staff_sign_a_user_out_everywhere_without_locking_the_account(provider, world, alice_everywhere, client):
    acme_rp, cove_rp, signed_in, laptop = alice_everywhere
    acme_app = signed_in["laptop"][0].client
    bobs_sid = signed_in["bob"][0].claims["sid"]
    assert laptop.get(f"{provider.issuer}/accounts/email/", allow_redirects=False, timeout=10).status_code == 200
    client.force_login(world.staff)
    host = urlsplit(provider.issuer).netloc

    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "sign_out_everywhere", "_selected_action": [world.alice.pk]},
        HTTP_HOST=host,
    )

    assert response.status_code == 302
    # The hub: the laptop's session is over (and the phone's, which signed in the same way).
    response = laptop.get(f"{provider.issuer}/accounts/email/", allow_redirects=False, timeout=10)
    assert response.status_code == 302 and "/accounts/login/" in response.headers["Location"]
    # The apps: told about every session of Alice's, Bob's untouched.
    told = sorted(
        verified_logout_token(token, provider.keys(), issuer=provider.issuer, audience=acme_app.client_id)["sid"]
        for token in acme_rp.logout_tokens
    )
    assert told == sorted([signed_in["laptop"][0].claims["sid"], signed_in["phone"][0].claims["sid"]])
    assert bobs_sid not in told and len(cove_rp.logout_tokens) == 1
    # The tokens the apps hold are dead; Bob's are not.
    refresh_tokens, access_tokens = get_refresh_token_model().objects, get_access_token_model().objects
    assert not refresh_tokens.filter(user=world.alice, revoked__isnull=True).exists()
    assert not access_tokens.filter(user=world.alice).exists()
    assert refresh_tokens.filter(user=world.bob, revoked__isnull=True).exists()
    # The account is not locked: Alice signs in again.
    world.alice.refresh_from_db()
    assert world.alice.is_active is True
    again = requests.Session()
    for name, morsel in _logged_in_cookies(world.alice).items():
        again.cookies.set(name, morsel.value)
    assert again.get(f"{provider.issuer}/accounts/email/", allow_redirects=False, timeout=10).status_code == 200
    again.close()


def _logged_in_cookies(user):
    django_client = DjangoClient()
    django_client.force_login(user)
    return django_client.cookies
