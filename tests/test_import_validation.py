"""The import's fast row validation (accounts/imports/validation.py) against the serializer.

Whatever the shortcut accepts must be exactly what ``ImportRowSerializer`` returns; whatever
the serializer refuses, the shortcut must leave to it (None), so the errors stay its own.
"""

import random
import uuid

import pytest
from rest_framework import serializers

from accounts.imports.rows import ImportRowSerializer, Row, RowRefused
from accounts.imports.validation import row_validated_fast

TEXTS = [
    "",
    " ",
    "Ann",
    " Ann ",
    "a" * 150,
    "a" * 151,
    "x\x00y",
    "M\u00fcller",
    "bad\ud800",
    "\t",
    7,
    1.5,
    True,
    None,
    [],
]
VALUES = {
    "email": [
        *TEXTS,
        "a@example.org",
        " A@Example.ORG ",
        "a@b",
        "a..b@example.org",
        "a@localhost",
        "@x.org",
        "a" * 250 + "@example.org",
        '"q"@example.org',
        "a@[127.0.0.1]",
        "b@ex\u00e4mple.org",
    ],
    "email_verified": [True, False, "true", "True", "1", "off", "", " true", 1, 0, 1.0, None, "no"],
    "phone_number": [
        *TEXTS,
        "+4930123456",
        " +4930123456 ",
        "+0123456789",
        "+49301234567890123",
        "4930123456",
        "+4930123456\n",
    ],
    "given_name": TEXTS,
    "address_country": [*TEXTS, "DE", "de", "DEU", " DE "],
    "birthdate": [*TEXTS, "1990-01-31", "1990-02-30", "19900131", "1990-1-31", "1990-01-31T00:00:00"],
    "website": [*TEXTS, "https://example.org", "example.org", "https://" + "a" * 500 + ".org"],
    "uuid": [*TEXTS, str(uuid.uuid4()), uuid.uuid4().hex, "{" + str(uuid.uuid4()) + "}", 12],
    "external_id": [*TEXTS, "E-1", "e" * 200, "e" * 201],
    "consents": [
        [],
        None,
        "x",
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z"}],
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00+01:00", "version": 2}],
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z", "version": True}],
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z", "version": "2"}],
        [{"purpose": "newsletter", "action": "withdraw", "occurred_at": "2026-01-15T10:00:00Z", "version": 1}],
        [{"purpose": "news letter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z"}],
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "yesterday"}],
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z", "extra": 1}],
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z", "source": ["x"]}],
        [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z", "source": " shop "}],
        ["grant"],
    ],
    "unknown": ["x"],
}


def serializer_says(data: dict):
    try:
        return dict(ImportRowSerializer().run_validation(data))
    except serializers.ValidationError:
        return None


def assert_agrees(data: dict) -> None:
    expected = serializer_says(data)
    fast = row_validated_fast(ImportRowSerializer(), data)
    if expected is None:
        assert fast is None, data
    elif fast is not None:
        assert fast == expected, data
        assert [type(value) for value in fast.values()] == [type(value) for value in expected.values()], data
        assert list(fast) == list(expected), data


@pytest.mark.parametrize("name", sorted(VALUES))
def test_each_value_is_accepted_as_the_serializer_accepts_it(name):
    for value in VALUES[name]:
        assert_agrees({name: value})
        assert_agrees({"email": "a@example.org", name: value})


def test_random_rows_agree_with_the_serializer():
    randomly = random.Random(14)
    names = sorted(VALUES)
    for _ in range(3000):
        chosen = randomly.sample(names, randomly.randint(1, 5))
        assert_agrees({name: randomly.choice(VALUES[name]) for name in chosen})


def test_common_rows_take_the_shortcut():
    row = {
        "email": "a@example.org",
        "given_name": "Ann",
        "phone_number": "+4930123456",
        "birthdate": "1990-01-31",
        "address_country": "DE",
        "external_id": "E-1",
        "consents": [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z"}],
    }
    assert row_validated_fast(ImportRowSerializer(), row) == serializer_says(row)


def test_a_refused_row_keeps_the_serializers_errors():
    with pytest.raises(RowRefused) as refused:
        Row(3, {"email": "not-an-email", "given_name": "x" * 151}).validated()
    assert refused.value.errors == [
        {"path": "/email", "message": "Enter a valid email address."},
        {"path": "/given_name", "message": "Ensure this field has no more than 150 characters."},
    ]
