"""The tables every import and consent change writes carry the indexes chosen for them, and
no others: a foreign key's own index where a composite one already leads with its column
only slows the writes (docs/decisions/0029-indexes-on-append-only-tables.md)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")

# Each index as "unique" or "index", then its columns; "-" for a descending one.
INDEXES = {
    "accounts_user": [
        "index email",  # email's _like (varchar_pattern_ops): unused, see the decision
        "index family_name, given_name",
        "index guest_device_hash",  # guest_device_hash's _like
        "index merged_into_id",
        "index phone_number",  # phone_number's _like
        "index updated_at",
        "unique email",
        "unique guest_device_hash",
        "unique id",
        "unique phone_number",
        "unique uuid",
    ],
    "accounts_membership": [
        "index user_id",
        "unique id",
        "unique tenant_id, external_id",
        "unique tenant_id, user_id",
    ],
    "consents_consent": [
        "index purpose_id, state, user_id",
        "index tenant_id, updated_at",
        "unique id",
        "unique user_id, purpose_id",
    ],
    "consents_consentrecord": [
        "index client_id",
        "index purpose_id, -id",
        "index tenant_id",
        "index user_id, -id",
        "unique id",
    ],
    "events_event": [
        "index tenant_id, id",
        "unique id",
        "unique uuid",
    ],
}

FOREIGN_KEYS = {
    "accounts_user": ["merged_into_id"],
    "accounts_membership": ["tenant_id", "user_id"],
    "consents_consent": ["purpose_id", "tenant_id", "user_id", "version_id"],
    "consents_consentrecord": ["client_id", "purpose_id", "tenant_id", "user_id", "version_id"],
    "events_event": ["tenant_id"],
}


def table_constraints(table: str) -> list[dict]:
    with connection.cursor() as cursor:
        return list(connection.introspection.get_constraints(cursor, table).values())


def described(constraint: dict) -> str:
    orders = constraint.get("orders") or ["ASC"] * len(constraint["columns"])
    columns = ", ".join(
        f"-{column}" if order == "DESC" else column for column, order in zip(constraint["columns"], orders, strict=True)
    )
    return f"{'unique' if constraint['unique'] else 'index'} {columns}"


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(INDEXES))
def test_table_has_exactly_the_intended_indexes(table):
    indexes = [described(c) for c in table_constraints(table) if c["index"] or c["unique"]]

    assert sorted(indexes) == INDEXES[table]


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(FOREIGN_KEYS))
def test_foreign_keys_stay_enforced_without_their_own_index(table):
    foreign_keys = [c["columns"][0] for c in table_constraints(table) if c["foreign_key"]]

    assert sorted(foreign_keys) == FOREIGN_KEYS[table]
