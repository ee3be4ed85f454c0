"""Small, strict readers for settings that come from the environment.

Each reader fails loudly on a value it cannot understand, so a typo in a deployment
shows up at start-up instead of as a silently wrong default. Every reader also accepts
``NAME_FILE`` pointing at a file that holds the value (Kubernetes and Docker secrets).
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str | None = None) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            with open(file_path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {error}") from error
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = envstr(name)
    if value is None:
        return default
    normalised = value.strip().lower()
    if normalised in _TRUE:
        return True
    if normalised in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def envint(name: str, default: int) -> int:
    value = envstr(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None


def envlist(name: str, default: list[str] | None = None) -> list[str]:
    value = envstr(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]
