"""A tenant's mfa.required, as the authorization endpoint applies it (accounts/signin/mfa.py),
and the allauth.mfa pages it sends people to: enrolment, codes shown once, each used once."""

import re
import time
from importlib import import_module
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.internal.flows.login import record_authentication
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.conf import settings
from django.contrib.auth import get_user
from django.test import Client as DjangoTestClient
from django.test import RequestFactory

from accounts.signin.context import signin_context_for_client
from accounts.signin.mfa import RETURN_SESSION_KEY, mfa_requirement_response
from tenants.services import tenant_config_update

from .conftest import SYSTEM

PASSWORD = "a long and unusual passphrase"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp_now(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def require_mfa(tenant, **mfa) -> None:
    tenant_config_update(actor=SYSTEM, tenant=tenant, config={"mfa": {"required": True, **mfa}}, partial=True)


def authorize_path(client) -> str:
    return f"/o/authorize/?client_id={client.client_id}&response_type=code&scope=openid&state=s1"


def request_as(user, path: str, *records: dict):
    """A GET of ``path`` by ``user`` whose session holds these allauth authentication records."""
    request = RequestFactory().get(path)
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    request.user = user
    for record in records:
        record_authentication(request, user, **record)
    return request


def next_of(response) -> tuple[str, str]:
    parts = urlsplit(response["Location"])
    return parts.path, parse_qs(parts.query)["next"][0]


@pytest.fixture
def dora(make_user):
    user = make_user("dora@example.org", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


PASSWORD_RECORD = {"method": "password", "email": "dora@example.org"}
TOTP_RECORD = {"method": "mfa", "type": "totp", "id": 1}


def test_a_tenant_without_the_rule_lets_a_password_sign_in_through(world, dora):
    context = signin_context_for_client(world.acme.app)
    request = request_as(dora, authorize_path(world.acme.app), PASSWORD_RECORD)
    assert mfa_requirement_response(request, context) is None


def test_a_user_without_an_authenticator_is_sent_to_enrol_and_back(world, dora):
    require_mfa(world.acme.tenant)
    path = authorize_path(world.acme.app)
    request = request_as(dora, path, PASSWORD_RECORD)
    response = mfa_requirement_response(request, signin_context_for_client(world.acme.app))
    assert response.status_code == 302
    assert next_of(response) == ("/accounts/2fa/totp/activate/", path)
    assert request.session[RETURN_SESSION_KEY] == path


def test_a_user_with_an_app_but_no_code_this_session_is_asked_for_one(world, dora):
    require_mfa(world.acme.tenant)
    TOTP.activate(dora, SECRET)
    path = authorize_path(world.acme.app)
    response = mfa_requirement_response(
        request_as(dora, path, PASSWORD_RECORD), signin_context_for_client(world.acme.app)
    )
    assert next_of(response) == ("/accounts/2fa/reauthenticate/", path)


@pytest.mark.parametrize("factor", ["totp", "recovery_codes"])
def test_a_second_factor_this_session_satisfies_the_rule(world, dora, factor):
    require_mfa(world.acme.tenant)
    request = request_as(dora, authorize_path(world.acme.app), PASSWORD_RECORD, {**TOTP_RECORD, "type": factor})
    assert mfa_requirement_response(request, signin_context_for_client(world.acme.app)) is None


def test_only_the_tenants_own_methods_count(world, dora):
    require_mfa(world.acme.tenant, methods=["webauthn"])
    request = request_as(dora, authorize_path(world.acme.app), PASSWORD_RECORD, TOTP_RECORD)
    assert mfa_requirement_response(request, signin_context_for_client(world.acme.app)) is not None


def test_nobody_signed_in_is_left_to_the_login_page(world, rf):
    from django.contrib.auth.models import AnonymousUser

    require_mfa(world.acme.tenant)
    request = rf.get(authorize_path(world.acme.app))
    request.user = AnonymousUser()
    assert mfa_requirement_response(request, signin_context_for_client(world.acme.app)) is None


def test_the_rule_of_one_tenant_does_not_reach_another(world, dora):
    require_mfa(world.acme.tenant)
    request = request_as(dora, authorize_path(world.bolt.app), PASSWORD_RECORD)
    assert mfa_requirement_response(request, signin_context_for_client(world.bolt.app)) is None
    request = request_as(dora, authorize_path(world.acme.app), PASSWORD_RECORD)
    assert mfa_requirement_response(request, signin_context_for_client(world.acme.app)) is not None


def test_a_guest_at_a_tenant_that_requires_mfa_is_signed_out_and_sent_to_sign_in(world, client):
    require_mfa(world.acme.tenant, required=True)
    tenant_config_update(actor=SYSTEM, tenant=world.bolt.tenant, config={"login_methods": ["password", "guest"]})
    path = authorize_path(world.bolt.app)
    client.post("/accounts/guest/", {"next": path})  # a guest of Bolt, signed in
    guest = get_user(client)
    assert guest.is_guest

    request = request_as(guest, authorize_path(world.acme.app))
    request.session = client.session
    response = mfa_requirement_response(request, signin_context_for_client(world.acme.app))
    assert next_of(response) == ("/accounts/login/", authorize_path(world.acme.app))
    assert not request.user.is_authenticated  # the guest session ended; the device cookie stays


# --- The pages: enrolment, recovery codes ---------------------------------------------------


@pytest.fixture
def signed_in(dora):
    browser = DjangoTestClient()
    response = browser.post("/accounts/login/", {"login": dora.email, "password": PASSWORD})
    assert response.status_code == 302
    return browser


def test_right_after_signing_in_enrolment_asks_for_no_password_again(dora, signed_in):
    assert signed_in.get("/accounts/2fa/totp/activate/").status_code == 200


def test_a_sign_in_older_than_five_minutes_asks_for_the_password_before_mfa_changes(dora, signed_in, monkeypatch):
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    assert signed_in.get("/accounts/2fa/totp/activate/")["Location"].startswith("/accounts/reauthenticate/")
    assert signed_in.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    assert signed_in.get("/accounts/2fa/totp/activate/").status_code == 200


def test_authenticator_secrets_are_encrypted_at_rest(dora):
    TOTP.activate(dora, SECRET)
    RecoveryCodes.activate(dora)
    stored = {row.type: row.data for row in Authenticator.objects.filter(user=dora)}
    assert stored["totp"]["secret"].startswith("fernet:") and SECRET not in str(stored["totp"])
    assert stored["recovery_codes"]["seed"].startswith("fernet:")
    # ... and the codes still work through allauth, which decrypts them.
    assert TOTP(Authenticator.objects.get(user=dora, type="totp")).validate_code(totp_now(SECRET))


@pytest.mark.django_db(transaction=True)  # allauth announces the new authenticator on commit
def test_enrolment_shows_the_key_and_counts_as_the_second_factor(world, dora, signed_in):
    require_mfa(world.acme.tenant)
    page = signed_in.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = re.search(rb'id="authenticator_secret" value="([A-Z2-7]+)"', page.content).group(1).decode()
    assert b"data:image/svg+xml;base64," in page.content  # the QR code

    response = signed_in.post("/accounts/2fa/totp/activate/", {"code": totp_now(secret)})
    assert response["Location"] == "/accounts/2fa/recovery-codes/"
    assert Authenticator.objects.filter(user=dora, type="totp").exists()

    request = request_as(dora, authorize_path(world.acme.app))
    request.session = signed_in.session
    assert mfa_requirement_response(request, signin_context_for_client(world.acme.app)) is None


def test_a_wrong_code_enrols_nothing(dora, signed_in):
    signed_in.get("/accounts/2fa/totp/activate/")
    response = signed_in.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert not Authenticator.objects.filter(user=dora).exists()


def test_recovery_codes_are_shown_once(dora, signed_in):
    TOTP.activate(dora, SECRET)
    codes = RecoveryCodes.activate(dora).get_unused_codes()
    first = signed_in.get("/accounts/2fa/recovery-codes/").content.decode()
    assert all(f"<code>{code}</code>" in first for code in codes)
    second = signed_in.get("/accounts/2fa/recovery-codes/").content.decode()
    assert not any(code in second for code in codes)
    assert "10 unused recovery codes left" in second


def test_a_recovery_code_signs_in_once(dora):
    TOTP.activate(dora, SECRET)
    code = RecoveryCodes.activate(dora).get_unused_codes()[0]
    for attempt in ("first", "second"):
        browser = DjangoTestClient()
        response = browser.post("/accounts/login/", {"login": dora.email, "password": PASSWORD})
        assert response["Location"] == "/accounts/2fa/authenticate/"
        response = browser.post("/accounts/2fa/authenticate/", {"code": code})
        if attempt == "first":
            assert response.status_code == 302 and get_user(browser) == dora
        else:
            assert response.status_code == 200 and not get_user(browser).is_authenticated
            assert "Incorrect code." in response.content.decode()
