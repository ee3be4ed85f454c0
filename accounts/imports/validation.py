"""A row's validation without building DRF's machinery per row, with DRF's exact outcome.

``ImportRowSerializer`` stays the definition of a valid row and the only author of its
errors. This module only *accepts*: for the common shapes of a value (a string within its
length, a well-formed e-mail or phone number, a boolean, an ISO date) it applies the
field's own rules directly and returns what the serializer would return; for any other
value it asks the serializer's field itself; and for a row it cannot accept (an unknown
key, a value one of those fields refuses) it returns None, so the caller runs the whole
serializer and gets its errors. Consent entries repeat across rows (the same purpose,
action and time), so each distinct entry is validated by the serializer once per thread
and its result reused. (docs/decisions/0014-bulk-import.md)
"""

import re
import threading
from datetime import date

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, MaxLengthValidator, ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import ISO_8601, api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

_SURROGATE = re.compile("[\ud800-\udfff]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Distinct consent entries kept per thread; beyond it the cache starts again.
CONSENT_CACHE_SIZE = 10_000


class _Plan:
    """How each field of the row serializer is checked: built once per thread."""

    def __init__(self, serializer: serializers.Serializer):
        self.fields = serializer.fields
        self.order = list(self.fields)
        self.consent_serializer = self.fields["consents"].child
        self.checks = {name: _check_for(field) for name, field in self.fields.items() if name != "consents"}
        self.consents: dict = {}
        # The shortcut reads fields one by one: it holds only while the serializer adds
        # nothing across them (no defaults, no validate_<field>, no row-level validation).
        self.usable = (
            type(serializer).validate is serializers.Serializer.validate
            and not serializer.validators
            and all(field.default is empty and field.source == name for name, field in self.fields.items())
            and not any(hasattr(serializer, f"validate_{name}") for name in self.fields)
        )


def _check_for(field: serializers.Field):
    """A fast check for ``field``: value -> validated value, or raises _Unsure."""
    if type(field) is serializers.BooleanField:
        return _boolean_check(field)
    if type(field) is serializers.DateField and _formats(field) == [ISO_8601]:
        return _date_check(field)
    if type(field) in (serializers.CharField, serializers.EmailField, serializers.RegexField):
        patterns = _text_patterns(field)
        if patterns is not None:
            return _text_check(field, patterns)
    return _field_itself(field)


def _formats(field: serializers.DateField) -> list:
    return list(getattr(field, "input_formats", api_settings.DATE_INPUT_FORMATS))


def _text_patterns(field: serializers.CharField) -> list | None:
    """The field's validators as plain tests of the stripped text; None if one of them is
    of a kind this module does not restate."""
    if field.min_length is not None or not field.trim_whitespace:
        return None
    tests = []
    for validator in field.validators:
        if type(validator) in (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator):
            continue  # restated in _text_check
        if type(validator) is MaxLengthValidator and validator.limit_value == field.max_length:
            continue  # restated in _text_check
        if type(validator) is RegexValidator and not validator.inverse_match:
            tests.append(validator.regex.search)
        elif type(validator) is EmailValidator:
            tests.append(_valid_by(validator))
        else:
            return None
    return tests


def _valid_by(validator):
    def test(text: str) -> bool:
        try:
            validator(text)
        except DjangoValidationError:
            return False
        return True

    return test


class _Unsure(Exception):
    """The fast check cannot vouch for the value: the serializer decides."""


def _boolean_check(field: serializers.BooleanField):
    """DRF's BooleanField for a bool or one of its spellings ("true", "0", ...; CSV cells)."""
    true, false = field.TRUE_VALUES, field.FALSE_VALUES

    def check(value):
        if type(value) is bool:
            return value
        if type(value) is str:
            if value in true:
                return True
            if value in false:
                return False
        raise _Unsure()

    return check


def _text_check(field: serializers.CharField, tests: list):
    """DRF's CharField.run_validation for a str: stripped, blank allowed or not, at most
    max_length, no NUL, no surrogates; then the field's own pattern."""
    max_length, allow_blank, allow_null = field.max_length, field.allow_blank, field.allow_null

    def check(value):
        if value is None and allow_null:
            return None
        if type(value) is not str:
            raise _Unsure()
        text = value.strip()
        if not text:
            if allow_blank:
                return ""
            raise _Unsure()
        if max_length is not None and len(text) > max_length:
            raise _Unsure()
        if "\x00" in text or (not text.isascii() and _SURROGATE.search(text)):
            raise _Unsure()
        if not all(test(text) for test in tests):
            raise _Unsure()
        return text

    return check


def _date_check(field: serializers.DateField):
    allow_null = field.allow_null

    def check(value):
        if value is None and allow_null:
            return None
        if type(value) is not str or not _ISO_DATE.fullmatch(value):
            raise _Unsure()
        try:
            return date.fromisoformat(value)  # what django's parse_date tries first
        except ValueError:
            raise _Unsure() from None

    return check


def _field_itself(field: serializers.Field):
    def check(value):
        try:
            return field.run_validation(value)
        except serializers.ValidationError:
            raise _Unsure() from None

    return check


_plans = threading.local()


def _plan(serializer: serializers.Serializer) -> _Plan:
    plan = getattr(_plans, "plan", None)
    if plan is None or plan.fields is not serializer.fields:
        plan = _plans.plan = _Plan(serializer)
    return plan


def row_validated_fast(serializer: serializers.Serializer, data: dict) -> dict | None:
    """The row as ``serializer.run_validation(data)`` returns it, or None when only the
    serializer can say (the row may be invalid, or of a shape this module does not read)."""
    plan = _plan(serializer)
    if not plan.usable:
        return None
    checks = plan.checks
    validated = {}
    try:
        for name in plan.order:
            if name not in data:
                continue
            if name == "consents":
                validated[name] = _consents_validated(plan, data[name])
            else:
                validated[name] = checks[name](data[name])
    except _Unsure:
        return None
    if len(validated) != len(data):
        return None  # a key the serializer does not know
    return validated


def _consents_validated(plan: _Plan, consents) -> list[dict]:
    if type(consents) is not list:
        raise _Unsure()
    return [_consent_validated(plan, consent) for consent in consents]


def _consent_validated(plan: _Plan, consent) -> dict:
    if type(consent) is not dict:
        raise _Unsure()
    try:
        # The type is part of the key: 1, 1.0 and True are equal but validate differently.
        key = tuple(sorted((name, type(value), value) for name, value in consent.items()))
        hash(key)
    except TypeError:
        raise _Unsure() from None
    cache = plan.consents
    if key not in cache:
        if len(cache) >= CONSENT_CACHE_SIZE:
            cache.clear()
        try:
            cache[key] = dict(plan.consent_serializer.run_validation(consent))
        except serializers.ValidationError:
            cache[key] = None
    if cache[key] is None:
        raise _Unsure()
    return dict(cache[key])
