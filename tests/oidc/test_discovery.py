import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


def test_discovery_document_describes_the_provider(provider):
    metadata = provider.metadata
    assert metadata["issuer"] == provider.issuer
    assert metadata["authorization_endpoint"] == f"{provider.issuer}/o/authorize/"
    assert metadata["token_endpoint"] == f"{provider.issuer}/o/token/"
    assert metadata["userinfo_endpoint"] == f"{provider.issuer}/o/userinfo/"
    assert metadata["jwks_uri"] == f"{provider.issuer}/.well-known/jwks.json"
    assert metadata["revocation_endpoint"] == f"{provider.issuer}/o/revoke_token/"
    assert metadata["introspection_endpoint"] == f"{provider.issuer}/o/introspect/"
    assert metadata["end_session_endpoint"] == f"{provider.issuer}/o/logout/"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "client_credentials", "refresh_token"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["subject_types_supported"] == ["public", "pairwise"]
    assert set(metadata["scopes_supported"]) == {"openid", "profile", "email", "phone", "address", "offline_access"}
    assert {"sub", "email", "email_verified", "given_name", "address", "auth_time", "amr"} <= set(
        metadata["claims_supported"]
    )
    assert metadata["claims_parameter_supported"] is True  # decision 20
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_oauth_metadata_names_the_same_issuer(provider):
    metadata = requests.get(f"{provider.issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["issuer"] == provider.issuer
    assert metadata["token_endpoint"] == provider.endpoint("token_endpoint")
    assert "implicit" not in metadata["grant_types_supported"]
    assert "password" not in metadata["grant_types_supported"]


def test_fresh_install_publishes_a_signing_key(provider):
    response = requests.get(provider.endpoint("jwks_uri"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    [key] = response.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] and "d" not in key  # public part only
