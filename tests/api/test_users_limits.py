"""Oversized bodies are refused with 413 and a problem body, before anything is parsed."""

from django.test import override_settings

from accounts.models import User
from tests.api.conftest import assert_problem


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_oversized_bodies_answer_413(world, api_as):
    api = api_as(world.acme.backend, ["users:write", "users:read", "consents:write"])
    big = {"email": "dora@example.org", "given_name": "x" * 2000}
    body = assert_problem(api.post("/api/v1/users", big, format="json"), 413)
    assert "1000 bytes" in body["detail"]
    assert not User.objects.filter(email="dora@example.org").exists()
    lookup = {"purpose": "newsletter", "identifiers": [{"email": f"u{n}@example.org"} for n in range(100)]}
    assert_problem(api.post("/api/v1/users/lookup", lookup, format="json"), 413)
    assert_problem(api.post("/api/v1/consents", {"source": "x" * 2000}, format="json"), 413)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_bodies_within_the_limit_are_served(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    assert api.post("/api/v1/users", {"email": "dora@example.org"}, format="json").status_code == 201
