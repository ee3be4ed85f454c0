from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from harbourmaster.actors import Actor
from tenants.keys import signing_key_current, signing_key_rotate, signing_keys_published
from tenants.models import SigningKey

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR = Actor.system("tests")


def published_kids(provider) -> list[str]:
    return [key["kid"] for key in requests.get(provider.endpoint("jwks_uri"), timeout=10).json()["keys"]]


def kid_of(provider, signed_in) -> str:
    return provider.decode(signed_in.token["id_token"]).header["kid"]


def test_new_key_is_published_before_it_signs(provider, world, sign_in):
    old = signing_key_current()
    new = signing_key_rotate(actor=OPERATOR)  # signs after the JWKS cache lifetime
    assert set(published_kids(provider)) == {old.kid, new.kid}
    assert kid_of(provider, sign_in(world.acme.app, world.alice)) == old.kid


def test_rotation_signs_new_tokens_with_the_new_key_and_old_ones_still_verify(provider, world, sign_in):
    before = sign_in(world.acme.app, world.alice)
    old_kid = kid_of(provider, before)
    call_command("rotate_signing_key", "--publish-ahead", "0", stdout=StringIO())
    after = sign_in(world.acme.app, world.alice)
    new_kid = kid_of(provider, after)
    assert new_kid != old_kid
    assert set(published_kids(provider)) == {old_kid, new_kid}
    # A relying party fetching the JWKS now verifies the token it got before the rotation.
    assert provider.decode(before.token["id_token"]).claims["sub"] == str(world.alice.uuid)


def test_retired_key_leaves_the_jwks_once_its_tokens_have_expired(db):
    old = signing_key_current()
    new = signing_key_rotate(actor=OPERATOR, publish_ahead=timedelta(0))
    old.refresh_from_db()
    assert old.retired_at == new.activated_at
    # Its last token may be signed by a process that read it a minute before it retired.
    last_token_expires = timedelta(seconds=3600 + 60)
    assert old in signing_keys_published(at=old.retired_at + last_token_expires - timedelta(seconds=1))
    assert old not in signing_keys_published(at=old.retired_at + last_token_expires)
    assert new in signing_keys_published(at=old.retired_at + last_token_expires)


def test_rotating_again_before_the_last_key_signs_keeps_one_key_signing(db):
    first = signing_key_current()
    second = signing_key_rotate(actor=OPERATOR, publish_ahead=timedelta(hours=1))
    third = signing_key_rotate(actor=OPERATOR, publish_ahead=timedelta(hours=2))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.retired_at == second.activated_at
    assert second.retired_at == third.activated_at
    assert SigningKey.objects.get(pk=signing_key_current().pk) == first


def test_rotate_command_reports_the_new_key(db):
    out = StringIO()
    call_command("rotate_signing_key", stdout=out)
    key = SigningKey.objects.order_by("-id").first()
    assert key.kid in out.getvalue()
    assert key.activated_at > timezone.now() + timedelta(minutes=59)
    assert key.created_by == "system:rotate_signing_key"


def test_logout_accepts_an_id_token_hint_signed_by_a_retired_key(provider, world, sign_in, browser):
    signed_in = sign_in(world.acme.app, world.alice)
    signing_key_rotate(actor=OPERATOR, publish_ahead=timedelta(0))
    response = browser(world.alice).get(
        provider.endpoint("end_session_endpoint"),
        params={"id_token_hint": signed_in.token["id_token"]},
        allow_redirects=False,
        timeout=10,
    )
    # The hint verifies, so the user is asked to confirm rather than shown an error.
    assert response.status_code == 200
    assert 'id="authorizationForm"' in response.text
