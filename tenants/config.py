"""The tenant configuration: its published JSON Schema, validation and defaults.

A tenant stores only what it chose; ``effective_config`` lays that over the defaults
the schema declares, so a new default reaches every tenant that did not choose.
"""

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from accounts.sms.backends import sms_disabled

SCHEMA_PATH = Path(__file__).parent / "schema" / "tenant-config.schema.json"


@dataclass(frozen=True, slots=True)
class ConfigError:
    path: str  # a JSON Pointer into the submitted config, "/" for the whole document
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class TenantConfigInvalid(ValueError):
    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors))


@cache
def config_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(config_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _pointer(path) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path)


CODE_CHANNELS = {"email_code": "email", "sms_code": "sms"}
SOCIAL_METHODS = ("google", "facebook", "apple", "oidc")
ACCESS_TOKEN_FORMAT_JWT = "jwt"  # noqa: S105 - a format's name
ACCESS_TOKEN_DEFAULT_ALGORITHM = "RS256"  # noqa: S105 - an algorithm's name


def _consistency_errors(config: dict[str, Any], stored: dict[str, Any] | None) -> list[ConfigError]:
    """Rules across keys, on the config as it will apply (defaults filled in)."""
    effective = effective_config(config)
    methods = effective["login_methods"]
    found = []
    for method, channel in CODE_CHANNELS.items():
        if method in methods and channel not in effective["otp"]["channels"]:
            found.append(ConfigError("/otp/channels", f"must include {channel!r}: login_methods offers {method!r}"))
    configured = {entry["provider"] for entry in effective["social_providers"]}
    for method in SOCIAL_METHODS:
        if method in methods and method not in configured:
            found.append(ConfigError("/social_providers", f"needs a {method!r} entry: login_methods offers {method!r}"))
    return found + _deliverable_errors(methods, stored) + _access_token_errors(effective)


def _deliverable_errors(methods: list[str], stored: dict[str, Any] | None) -> list[ConfigError]:
    # With SMS_BACKEND=disabled the sign-in page leaves sms_code out (accounts.signin.context):
    # a tenant offering nothing else would leave its users no way in. The rule is about the
    # deployment, not the config, so it refuses only the edit that makes a tenant SMS-only: one
    # stored that way before SMS was switched off must still be able to change anything else.
    if set(methods) != {"sms_code"} or not sms_disabled():
        return []
    if stored is not None and effective_config(stored)["login_methods"] == methods:
        return []
    message = "offers only 'sms_code', but this hub sends no text messages at present: add another method"
    return [ConfigError("/login_methods", message)]


def _access_token_errors(effective: dict[str, Any]) -> list[ConfigError]:
    # An algorithm for tokens that are not signed would look chosen and do nothing.
    algorithm, token_format = effective["access_token_signing_alg"], effective["access_token_format"]
    if algorithm != ACCESS_TOKEN_DEFAULT_ALGORITHM and token_format != ACCESS_TOKEN_FORMAT_JWT:
        message = "signs JWT access tokens only: set access_token_format to 'jwt', or remove this key"
        return [ConfigError("/access_token_signing_alg", message)]
    return []


def config_errors(config: Any, *, stored: dict[str, Any] | None = None) -> list[ConfigError]:
    """Every error in ``config``; ``stored`` is the tenant's config it would replace (none for a new tenant)."""
    errors = _validator().iter_errors(config)
    found = [ConfigError(_pointer(error.absolute_path), error.message) for error in errors]
    if not found:
        found = _consistency_errors(config, stored)
    return sorted(found, key=lambda error: (error.path, error.message))


def config_validate(config: Any, *, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the config unchanged if the schema accepts it; raise with every error otherwise."""
    errors = config_errors(config, stored=stored)
    if errors:
        raise TenantConfigInvalid(errors)
    return config


def _defaults(schema: dict[str, Any]) -> Any:
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if schema.get("type") == "object" and "properties" in schema:
        values = {name: _defaults(child) for name, child in schema["properties"].items()}
        return {name: value for name, value in values.items() if value is not None}
    return None


@cache
def _config_defaults() -> dict[str, Any]:
    return _defaults(config_schema())


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def effective_config(config: dict[str, Any]) -> dict[str, Any]:
    """The stored config laid over the schema's defaults."""
    return _merge(copy.deepcopy(_config_defaults()), config)
