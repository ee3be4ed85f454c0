"""The API's JSON parser (depth bound, lone surrogates) and its any-case uuid path converter,
beyond the hostile-input hunt's cases in test_hostile_input.py."""

import io
import uuid

import pytest
from django.urls import resolve, reverse
from rest_framework.exceptions import ParseError

from harbourmaster.api.parsers import MAX_DEPTH, JSONParser
from tenants.models import Tenant
from tests.api.conftest import assert_problem


def parse(text: str, encoding: str = "utf-8"):
    return JSONParser().parse(io.BytesIO(text.encode(encoding)), parser_context={"encoding": encoding})


def nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "[1]" + "}" * (depth - 1)


def test_a_body_nested_to_the_limit_parses_and_one_level_deeper_is_refused():
    assert parse(nested(MAX_DEPTH))
    with pytest.raises(ParseError, match="nests deeper"):
        parse(nested(MAX_DEPTH + 1))


def test_a_body_too_deep_for_the_decoder_is_refused():
    with pytest.raises(ParseError, match="nests deeper"):
        parse("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [{"b": "x\\ud800"}]}',  # a value, nested
        '{"a": [{"b\\uDC00": 1}]}',  # a key, a low surrogate in upper case
        '"\\udfff"',  # the whole body
    ],
)
def test_a_lone_surrogate_anywhere_is_refused(text):
    with pytest.raises(ParseError, match="lone surrogate"):
        parse(text)


@pytest.mark.parametrize("text", ['{"name": "Ac\\u0000me"}', '{"a\\u0000": 1}', '["\\u0000"]'])
def test_a_nul_anywhere_is_refused(text):
    """jsonb and text columns hold no NUL: a tenant config with one would fail its UPDATE."""
    with pytest.raises(ParseError, match="NUL"):
        parse(text)


def test_a_surrogate_pair_and_an_escaped_backslash_are_text():
    assert parse('{"smile": "\\ud83d\\ude00", "path": "C:\\\\ud800"}') == {"smile": "😀", "path": "C:\\ud800"}


def test_a_charset_that_is_not_a_text_encoding_is_still_refused():
    """DRF refuses bytes-to-bytes codecs (a compressed body would grow past the size limit)."""
    with pytest.raises(ParseError, match="Unsupported charset"):
        JSONParser().parse(io.BytesIO(b"{}"), parser_context={"encoding": "bz2_codec"})


def test_a_merge_patch_nested_below_the_decoders_limit_is_a_400_not_a_500(world, acme_admin):
    """1,400 levels decode, but _merge_patch recurses once per level: RecursionError, a 500."""
    body = '{"otp": ' + '{"a": ' * 1400 + "1" + "}" * 1400 + "}"
    acme_admin.raise_request_exception = False
    response = acme_admin.patch(
        "/api/v1/tenant/config", body, content_type="application/merge-patch+json", HTTP_IF_MATCH='"1"'
    )
    assert "nests deeper" in assert_problem(response, 400)["detail"]
    assert Tenant.objects.get(pk=world.acme.tenant.pk).config_version == 1


def test_an_import_can_be_followed_with_its_uuid_in_upper_case(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    job = api.post("/api/v1/users/imports", data=b'{"email": "one@example.org"}\n', content_type="application/x-ndjson")
    assert job.status_code == 202, job.content
    job_id = job.json()["id"]
    progress = api.get(f"/api/v1/users/imports/{job_id.upper()}")
    errors = api.get(f"/api/v1/users/imports/{job_id.upper()}/errors")
    assert (progress.status_code, progress.json()["id"]) == (200, job_id)
    assert errors.status_code == 200, errors.content


def test_a_uuid_path_yields_a_uuid_and_is_written_in_lower_case():
    value = uuid.uuid4()
    assert resolve(f"/api/v1/users/{str(value).upper()}").kwargs == {"uuid": value}
    assert reverse("user-detail", args=[value]) == f"/api/v1/users/{value}"
