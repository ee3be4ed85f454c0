"""A user's JWT access tokens die everywhere when staff sign the user out everywhere or
deactivate the account (decision 27): the hub's revocation list names the user at each
client by a digest, with the moment before which their tokens are revoked, and the hub's
own introspection agrees. A resource server is played here from the JWKS and the list
alone, fetched with its tenant's client credentials (the subject entries are that
tenant's only); the user signs in with Authlib against the live server."""

import base64
import hashlib
import secrets
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from joserfc import jwt
from joserfc.jwk import KeySet

from accounts.merge import guest_merge
from accounts.oidc import revocation_list as revocation
from accounts.oidc.claims import subject_for
from accounts.services import guest_from_cookie, user_deactivate, user_sign_out_everywhere
from harbourmaster.actors import Actor
from tenants.services import tenant_config_update

from .conftest import query_of, relying_party
from .test_jwt_access_tokens import api_get, fetch_token
from .test_revocation_and_introspection import introspect

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = Actor.system("tests-staff")


@pytest.fixture
def jwt_tenants(world, actor):
    """Acme and Bolt both issue JWT access tokens; Bolt gives each user a pairwise ``sub``."""
    jwt_config = {"access_token_format": "jwt"}
    tenant_config_update(actor=actor, tenant=world.acme.tenant, config=jwt_config, partial=True)
    tenant_config_update(
        actor=actor, tenant=world.bolt.tenant, config={**jwt_config, "subject_type": "pairwise"}, partial=True
    )
    return world


# --- A resource server, from the published documents alone -----------------------------


def published_list(provider, tenant_world=None) -> dict:
    """The list as a stranger reads it, or as ``tenant_world``'s backend client does."""
    auth = (tenant_world.backend.client_id, tenant_world.backend_secret) if tenant_world else None
    response = requests.get(f"{provider.issuer}/o/revoked-tokens/", auth=auth, timeout=10)
    assert response.status_code == 200
    return response.json()


def verified_claims(provider, token: str) -> dict:
    keys = KeySet.import_key_set(requests.get(provider.endpoint("jwks_uri"), timeout=10).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "at+jwt"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.issuer},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def subject_entry_of(listed: dict, claims: dict) -> dict | None:
    """The list's entry for the token's user at the token's client, found by its digest."""
    digest = sha256(f"{claims['client_id']}:{claims['sub']}")
    return next((entry for entry in listed["revoked_subjects"] if entry["client_sub_sha256"] == digest), None)


def resource_server_accepts(provider, token: str, tenant_world) -> bool:
    """What a resource server of ``tenant_world`` decides about a verified JWT access
    token, the list fetched with its tenant's credentials in hand."""
    claims, listed = verified_claims(provider, token), published_list(provider, tenant_world)
    if claims["jti"] in {entry["jti"] for entry in listed["revoked"]}:
        return False
    if sha256(claims["client_id"]) in listed["revoked_client_sha256"]:
        return False
    entry = subject_entry_of(listed, claims)
    # ``iat`` has whole seconds: a token of the very second of the sign-out is refused.
    return entry is None or claims["iat"] > entry["revoked_before"]


def userinfo_status(provider, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(provider.endpoint("userinfo_endpoint"), headers=headers, timeout=10).status_code


def active(provider, tenant_world, token: str) -> bool:
    return introspect(provider, tenant_world, token).json()["active"]


def after_second(moment: int) -> None:
    """Wait for the clock to leave ``moment``'s second: a token issued in it is refused."""
    while int(time.time()) <= moment:
        time.sleep(0.05)


def staff_sign_out_everywhere(provider, client, world, user) -> None:
    """Staff's admin action, as staff use it."""
    client.force_login(world.staff)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "sign_out_everywhere", "_selected_action": [user.pk]},
        HTTP_HOST=urlsplit(provider.issuer).netloc,
    )
    assert response.status_code == 302


# --- Sign out everywhere ------------------------------------------------------------------


def test_signing_out_everywhere_lists_the_users_jwts_and_a_new_sign_in_works(provider, jwt_tenants, sign_in, client):
    world = jwt_tenants
    alices = sign_in(world.acme.app, world.alice).token["access_token"]
    bobs = sign_in(world.acme.app, world.bob).token["access_token"]
    assert resource_server_accepts(provider, alices, world.acme)
    assert active(provider, world.acme, alices) and userinfo_status(provider, alices) == 200
    assert published_list(provider, world.acme)["revoked_subjects"] == []

    staff_sign_out_everywhere(provider, client, world, world.alice)

    listed = published_list(provider, world.acme)
    claims = verified_claims(provider, alices)
    entry = subject_entry_of(listed, claims)
    assert entry is not None and entry["revoked_before"] >= claims["iat"]
    assert entry["exp"] - entry["revoked_before"] == 3600  # an access token's lifetime
    assert str(world.alice.uuid) not in str(listed) and world.acme.app.client_id not in str(listed)
    assert not resource_server_accepts(provider, alices, world.acme)
    assert introspect(provider, world.acme, alices).json() == {"active": False}
    assert userinfo_status(provider, alices) == 401
    # Bob, at the same app, is not touched.
    assert resource_server_accepts(provider, bobs, world.acme) and active(provider, world.acme, bobs)

    after_second(entry["revoked_before"])
    world.alice.refresh_from_db()  # the session hash the hub now expects
    again = sign_in(world.acme.app, world.alice).token["access_token"]
    assert verified_claims(provider, again)["sub"] == claims["sub"]
    assert resource_server_accepts(provider, again, world.acme)
    assert active(provider, world.acme, again) and userinfo_status(provider, again) == 200


def test_signing_out_everywhere_reaches_every_tenant_each_by_its_own_sub(provider, jwt_tenants, sign_in):
    world = jwt_tenants
    at_acme = sign_in(world.acme.app, world.alice).token["access_token"]
    at_bolt = sign_in(world.bolt.app, world.alice).token["access_token"]
    bolt_claims = verified_claims(provider, at_bolt)
    assert bolt_claims["sub"] != str(world.alice.uuid)  # Bolt's is pairwise

    user_sign_out_everywhere(actor=STAFF, user=world.alice, issuer=provider.issuer)

    listed = published_list(provider, world.bolt)
    assert subject_entry_of(listed, bolt_claims) is not None
    # Bolt's entry names the pairwise sub: the uuid at Bolt's client is not what it lists.
    unlisted = {"client_id": world.bolt.app.client_id, "sub": str(world.alice.uuid)}
    assert subject_entry_of(listed, unlisted) is None
    assert not resource_server_accepts(provider, at_acme, world.acme) and not resource_server_accepts(
        provider, at_bolt, world.bolt
    )
    assert not active(provider, world.bolt, at_bolt)


def test_a_code_issued_before_the_sign_out_buys_no_token_after_it(provider, jwt_tenants, browser):
    world, app = jwt_tenants, jwt_tenants.acme.app
    rp = relying_party(app)
    verifier = secrets.token_urlsafe(48)
    url, _state = rp.create_authorization_url(provider.endpoint("authorization_endpoint"), code_verifier=verifier)
    answer = browser(world.alice).get(url, allow_redirects=False, timeout=10)
    code = query_of(answer.headers["Location"])["code"]

    user_sign_out_everywhere(actor=STAFF, user=world.alice, issuer=provider.issuer)

    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uris.split()[0],
        "client_id": app.client_id,
        "code_verifier": verifier,
    }
    response = requests.post(provider.endpoint("token_endpoint"), data=exchange, timeout=10)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    rp.close()


def test_machine_tokens_at_the_tenant_api_are_not_touched(provider, jwt_tenants, sign_in):
    world = jwt_tenants
    sign_in(world.acme.app, world.alice)
    machine = fetch_token(provider, world.acme)["access_token"]

    user_sign_out_everywhere(actor=STAFF, user=world.alice, issuer=provider.issuer)

    assert api_get(provider, machine).status_code == 200
    assert resource_server_accepts(provider, machine, world.acme)


# --- Deactivation ---------------------------------------------------------------------------


def test_a_deactivated_users_jwts_are_listed_and_stay_dead_after_reactivation(provider, jwt_tenants, sign_in):
    world = jwt_tenants
    alices = sign_in(world.acme.app, world.alice).token["access_token"]
    carols = sign_in(world.acme.app, world.carol).token["access_token"]

    user_deactivate(actor=STAFF, user=world.alice, issuer=provider.issuer)

    assert not resource_server_accepts(provider, alices, world.acme)
    assert introspect(provider, world.acme, alices).json() == {"active": False}
    assert userinfo_status(provider, alices) == 401
    assert resource_server_accepts(provider, carols, world.acme) and active(provider, world.acme, carols)

    # Staff undo it: the account signs in again, its old token stays dead at the hub too.
    entry = subject_entry_of(published_list(provider, world.acme), verified_claims(provider, alices))
    world.alice.is_active = True
    world.alice.save(update_fields=["is_active"])
    assert introspect(provider, world.acme, alices).json() == {"active": False}
    assert userinfo_status(provider, alices) == 401
    after_second(entry["revoked_before"])
    again = sign_in(world.acme.app, world.alice).token["access_token"]
    assert resource_server_accepts(provider, again, world.acme) and active(provider, world.acme, again)


# --- One tenant's entry, and the list itself --------------------------------------------------


def test_an_entry_for_one_tenant_leaves_another_tenants_tokens_of_the_same_person_alone(
    provider, jwt_tenants, sign_in, actor
):
    world = jwt_tenants
    # Both public this time: Alice's sub is the same at both tenants.
    tenant_config_update(actor=actor, tenant=world.bolt.tenant, config={"subject_type": "public"}, partial=True)
    at_acme = sign_in(world.acme.app, world.alice).token["access_token"]
    at_bolt = sign_in(world.bolt.app, world.alice).token["access_token"]
    bolt_claims = verified_claims(provider, at_bolt)
    assert verified_claims(provider, at_acme)["sub"] == bolt_claims["sub"]

    digest = revocation.subject_digest(client_id=bolt_claims["client_id"], subject=bolt_claims["sub"])
    revocation.jwt_subjects_revoke(digests={world.bolt.tenant.pk: [digest]})

    assert not resource_server_accepts(provider, at_bolt, world.bolt) and not active(provider, world.bolt, at_bolt)
    assert resource_server_accepts(provider, at_acme, world.acme) and active(provider, world.acme, at_acme)
    # The hub's own userinfo goes by the entry too: the rows are still there.
    assert userinfo_status(provider, at_bolt) == 401 and userinfo_status(provider, at_acme) == 200


def test_a_sign_out_that_rolls_back_lists_nothing(provider, jwt_tenants, sign_in):
    world = jwt_tenants
    alices = sign_in(world.acme.app, world.alice).token["access_token"]

    with pytest.raises(RuntimeError), transaction.atomic():
        user_sign_out_everywhere(actor=STAFF, user=world.alice, issuer=provider.issuer)
        raise RuntimeError("the outer work failed")

    assert published_list(provider, world.acme)["revoked_subjects"] == []
    assert resource_server_accepts(provider, alices, world.acme) and active(provider, world.acme, alices)


def test_a_token_of_the_very_second_is_revoked_and_one_of_the_next_is_not(db):
    digest = revocation.subject_digest(client_id="app", subject="someone")
    revoked_before = revocation.jwt_subjects_revoke(digests={1: [digest]})
    assert revocation.subject_token_revoked(client_id="app", subject="someone", issued=revoked_before)
    assert not revocation.subject_token_revoked(client_id="app", subject="someone", issued=revoked_before + 1)
    assert not revocation.subject_token_revoked(client_id="other-app", subject="someone", issued=revoked_before)


@pytest.mark.parametrize(
    "with_redis",
    [
        pytest.param(
            True,
            id="redis",
            marks=pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: without it there is no Redis"),
        ),
        pytest.param(False, id="embedded"),
    ],
)
def test_entries_leave_the_list_after_an_access_tokens_lifetime(db, monkeypatch, with_redis):
    if not with_redis:
        monkeypatch.setattr(revocation, "redis_client", lambda: None)
    an_hour_ago = time.time() - 3601
    monkeypatch.setattr(revocation, "time", SimpleNamespace(time=lambda: an_hour_ago))
    revocation.jwt_subjects_revoke(digests={1: ["old"]})
    monkeypatch.setattr(revocation, "time", time)
    revocation.jwt_subjects_revoke(digests={1: ["new"]})
    later = revocation.jwt_subjects_revoke(digests={1: ["new"]})

    listed = revocation.revocation_list(tenant_id=1)["revoked_subjects"]
    assert [entry["client_sub_sha256"] for entry in listed] == ["new"]
    assert listed[0]["revoked_before"] == later


# --- Who reads the subject entries: the tenant they concern, and nobody else ----------------


def basic(tenant_world, secret: str | None = None) -> str:
    pair = f"{tenant_world.backend.client_id}:{secret or tenant_world.backend_secret}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def test_each_tenant_reads_its_own_entries_and_a_stranger_none(provider, jwt_tenants, sign_in, actor):
    world = jwt_tenants
    # Both public: Alice's sub is her uuid at both, which Acme knows.
    tenant_config_update(actor=actor, tenant=world.bolt.tenant, config={"subject_type": "public"}, partial=True)
    at_acme = sign_in(world.acme.app, world.alice).token["access_token"]
    at_bolt = sign_in(world.bolt.app, world.alice).token["access_token"]

    user_sign_out_everywhere(actor=STAFF, user=world.alice, issuer=provider.issuer)

    # What Acme could compute for Bolt's app, and Bolt for Acme's.
    bolt_digest = sha256(f"{world.bolt.app.client_id}:{world.alice.uuid}")
    acme_digest = sha256(f"{world.acme.app.client_id}:{world.alice.uuid}")
    bolts = {entry["client_sub_sha256"] for entry in published_list(provider, world.bolt)["revoked_subjects"]}
    acmes = {entry["client_sub_sha256"] for entry in published_list(provider, world.acme)["revoked_subjects"]}
    assert bolt_digest in bolts and acme_digest not in bolts
    assert acme_digest in acmes and bolt_digest not in acmes
    public = published_list(provider)
    assert "revoked_subjects" not in public
    assert bolt_digest not in str(public) and acme_digest not in str(public)
    assert not resource_server_accepts(provider, at_acme, world.acme)
    assert not resource_server_accepts(provider, at_bolt, world.bolt)


def test_wrong_credentials_get_401_and_nothing_listed(provider, jwt_tenants, sign_in):
    world = jwt_tenants
    sign_in(world.acme.app, world.alice)
    user_sign_out_everywhere(actor=STAFF, user=world.alice, issuer=provider.issuer)
    url = f"{provider.issuer}/o/revoked-tokens/"

    for auth in [(world.acme.backend.client_id, "not-the-secret"), ("no-such-client", "x")]:
        response = requests.get(url, auth=auth, timeout=10)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert response.json() == {"error": "invalid_client"}
    # The app is a public client: it has no secret to prove anything with.
    response = requests.get(url, auth=(world.acme.app.client_id, ""), timeout=10)
    assert response.status_code == 401 and "revoked" not in response.json()
    # Secrets in the query string are not read: the caller is a stranger.
    query = {"client_id": world.acme.backend.client_id, "client_secret": world.acme.backend_secret}
    assert "revoked_subjects" not in requests.get(url, params=query, timeout=10).json()


def test_an_address_that_keeps_guessing_is_slowed_down(jwt_tenants, client, settings):
    world = jwt_tenants
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 3
    guesses = [client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(world.acme, f"guess-{n}")) for n in range(3)]
    assert [response.status_code for response in guesses] == [401, 401, 401]

    # The next guess from that address waits; the right secret, from anywhere (behind a
    # balancer everyone shares one address), is never held up by someone else's guesses.
    refused = client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(world.acme, "guess-4"))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "revoked_subjects" not in refused.json()
    served = client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(world.acme))
    assert served.status_code == 200 and served.json()["revoked_subjects"] == []
    assert client.get("/o/revoked-tokens/").status_code == 200


def test_behind_a_balancer_a_guessing_stranger_slows_down_only_itself(jwt_tenants, client, settings):
    """TRUSTED_PROXY_COUNT: every caller arrives from the balancer; X-Forwarded-For says who."""
    world = jwt_tenants
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 3

    def guess(n: int, caller: str):
        return client.get(
            "/o/revoked-tokens/",
            HTTP_AUTHORIZATION=basic(world.acme, f"guess-{n}"),
            REMOTE_ADDR="10.0.0.5",
            HTTP_X_FORWARDED_FOR=caller,
        )

    assert [guess(n, "203.0.113.7").status_code for n in range(4)] == [401, 401, 401, 429]
    # Another caller behind the same balancer who mistypes a secret is told so, not to wait.
    assert guess(4, "198.51.100.20").status_code == 401


def test_a_bearer_header_is_no_client_and_gets_the_public_document(jwt_tenants, client):
    """Only HTTP Basic names a client (any letter case, RFC 7617); anything else is public."""
    world = jwt_tenants
    public = client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION="Bearer abc")
    assert public.status_code == 200 and "revoked_subjects" not in public.json()
    lower = client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(world.acme).replace("Basic", "basic", 1))
    assert lower.status_code == 200 and lower.json()["revoked_subjects"] == []


def test_no_cache_hands_a_tenants_section_to_another_caller(jwt_tenants, client):
    world = jwt_tenants
    digest = revocation.subject_digest(client_id=world.bolt.app.client_id, subject=str(world.alice.uuid))
    revocation.jwt_subjects_revoke(digests={world.bolt.tenant.pk: [digest]})

    bolts = client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(world.bolt))
    assert [entry["client_sub_sha256"] for entry in bolts.json()["revoked_subjects"]] == [digest]
    assert bolts["Cache-Control"] == "no-store" and "Access-Control-Allow-Origin" not in bolts
    # Within the seconds the public part is kept, the next callers get their own documents.
    public = client.get("/o/revoked-tokens/")
    assert "revoked_subjects" not in public.json() and digest not in public.content.decode()
    assert public["Cache-Control"].startswith("public") and "Authorization" in public["Vary"]
    acmes = client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(world.acme))
    assert acmes.json()["revoked_subjects"] == []


# --- A guest merged into an account ---------------------------------------------------------


def test_a_merged_guests_jwts_are_listed_at_the_guests_tenants(jwt_tenants, client):
    world = jwt_tenants
    guest, _ = guest_from_cookie(actor=STAFF, tenant=world.acme.tenant, cookie_id="c-merge")
    issued = int(time.time())
    guest_subject = subject_for(user=guest, tenant=world.acme.tenant)

    guest_merge(guest=guest, into=world.carol, actor=Actor.user(world.carol))

    listed = client.get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(world.acme)).json()
    entry = subject_entry_of(listed, {"client_id": world.acme.app.client_id, "sub": guest_subject})
    assert entry is not None and entry["revoked_before"] >= issued
    assert revocation.subject_token_revoked(client_id=world.acme.app.client_id, subject=guest_subject, issued=issued)
    # The account the guest became is not signed out.
    carols = {"client_id": world.acme.app.client_id, "sub": subject_for(user=world.carol, tenant=world.acme.tenant)}
    assert subject_entry_of(listed, carols) is None
