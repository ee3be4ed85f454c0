"""The hub keeps its own facts on oauthlib's request (the cached client, the token read, the
family issued, the session's sign-in). oauthlib's Request answers a missing attribute with
the request parameter of that name, so a caller could post them: the hub must not read
them from there."""

import pytest

from tests.oidc.test_claims_parameter import PASSWORD_RECORD, code_from, token_for, userinfo
from tests.oidc.test_refresh_rotation import refresh
from tests.test_signin_policy import authorize_path, configure, signed_in

pytestmark = pytest.mark.django_db

POSTED = {
    "cached_client": "x",
    "issued_token_family": "x",
    "authentication": "x",
    "refresh_token_found": "x",
    "refresh_token_successor": "x",
}


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_parameters_named_like_the_hubs_own_facts_change_nothing(client, world, token_format):
    configure(world.acme.tenant, access_token_format=token_format, refresh_token_reuse_interval=30)
    signed_in(client, world.alice, PASSWORD_RECORD)
    code = code_from(client.get(authorize_path(world.acme.app, **POSTED)))
    app = world.acme.app
    exchanged = token_for(client, app, code, **POSTED)
    assert userinfo(client, exchanged["access_token"])["sub"] == str(world.alice.uuid)
    refreshed = refresh(client, app, exchanged["refresh_token"], **POSTED)
    assert refreshed.status_code == 200, refreshed.content
    assert refresh(client, app, refreshed.json()["refresh_token"], **POSTED).status_code == 200
