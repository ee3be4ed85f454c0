"""Asking the token endpoint as a client would: what tests of secrets assert against."""

from django.test import Client as DjangoTestClient


def token_status(client, secret: str) -> int:
    """What the token endpoint answers the client asking for a client-credentials token."""
    body = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    return DjangoTestClient().post("/o/token/", body).status_code
