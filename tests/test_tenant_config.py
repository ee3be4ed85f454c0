import json
from pathlib import Path

import pytest

from tenants.config import TenantConfigInvalid, config_errors, config_validate, effective_config

EXAMPLES = sorted((Path(__file__).parent.parent / "docs" / "examples" / "tenant-config").glob("*.json"))


def test_there_are_documented_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_schema_accepts_every_documented_example(example):
    config = json.loads(example.read_text())
    assert config_errors(config) == []


@pytest.mark.parametrize(
    ("config", "path", "reason"),
    [
        ({"otp": {"length": 12}}, "/otp/length", "12 is greater than the maximum of 10"),
        ({"otp": {"ttl_seconds": "600"}}, "/otp/ttl_seconds", "'600' is not of type 'integer'"),
        ({"login_methods": ["password", "carrier-pigeon"]}, "/login_methods/1", "'carrier-pigeon' is not one of"),
        ({"login_methods": []}, "/login_methods", "should be non-empty"),
        ({"branding": {"primary_color": "blue"}}, "/branding/primary_color", "does not match"),
        ({"branding": {"logo_url": "http://insecure.example/logo.png"}}, "/branding/logo_url", "does not match"),
        ({"allowed_scopes": ["profile"]}, "/allowed_scopes", "does not contain items matching"),
        ({"subject_type": "random"}, "/subject_type", "'random' is not one of"),
        ({"colour": "red"}, "/", "Additional properties are not allowed ('colour' was unexpected)"),
        (
            {"social_providers": [{"provider": "oidc", "client_id": "x"}]},
            "/social_providers/0",
            "'issuer' is a required property",
        ),
        ([], "/", "[] is not of type 'object'"),
        # Across keys, with the defaults filled in (otp.channels defaults to email only):
        ({"login_methods": ["sms_code"]}, "/otp/channels", "must include 'sms': login_methods offers 'sms_code'"),
        (
            {"login_methods": ["email_code"], "otp": {"channels": ["sms"]}},
            "/otp/channels",
            "must include 'email': login_methods offers 'email_code'",
        ),
        ({"login_methods": ["password", "google"]}, "/social_providers", "needs a 'google' entry"),
    ],
)
def test_schema_rejects_bad_config_naming_path_and_reason(config, path, reason):
    errors = config_errors(config)
    assert any(error.path == path and reason in error.message for error in errors), errors


def test_validate_reports_every_error_at_once():
    with pytest.raises(TenantConfigInvalid) as raised:
        config_validate({"otp": {"length": 2, "max_attempts": 0}, "subject_type": "x"})
    assert [error.path for error in raised.value.errors] == ["/otp/length", "/otp/max_attempts", "/subject_type"]
    assert "/otp/length: 2 is less than the minimum of 4" in str(raised.value)


def test_effective_config_lays_choices_over_defaults():
    config = effective_config({"otp": {"length": 8}, "login_methods": ["guest"]})
    assert config["otp"] == {"length": 8, "ttl_seconds": 600, "max_attempts": 5, "channels": ["email"]}
    assert config["login_methods"] == ["guest"]
    assert config["subject_type"] == "public"
    assert config["rate_limits"] == {"tenant_per_minute": 6000, "client_per_minute": 3000}


def test_published_schema_is_served(client):
    response = client.get("/schemas/tenant-config.json")
    assert response.status_code == 200
    assert response.json()["title"] == "Harbourmaster tenant configuration"
