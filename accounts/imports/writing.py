"""The set-based writes of an import batch: what the per-row services would have written.

New users, their memberships and ``user.created`` events are COPYed; existing users'
profile changes are one UPDATE from arrays, each heard of by every tenant related to the
user (``user.updated``); consents are replayed in order per user and purpose as
``consent_grant`` / ``consent_withdraw`` would apply them one after another, from the
current state read under lock; proof records, new consents and events are COPYed, changed
consents are one UPDATE. (docs/decisions/0014-bulk-import.md)
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models.expressions import RawSQL

from accounts.imports.copying import constant_columns, copy_text, ids_reserve, rows_copy
from accounts.models import PROFILE_FIELDS, Membership, User, normalize_email
from consents.models import Channel, Consent, ConsentRecord
from consents.selectors import current_consents
from events.models import Event

# The profile columns after the identifiers, in the order the COPY of users names them.
_PROFILE_COLUMNS = [name for name in PROFILE_FIELDS if name not in ("email", "phone_number")]
_USER_COLUMNS = ["id", "uuid", "password", "email", "phone_number", *_PROFILE_COLUMNS]
_USER_DEFAULTS = {name: copy_text(User._meta.get_field(name).get_default()) for name in _PROFILE_COLUMNS}
_GRANTED = Consent.State.GRANTED
_STATE_OF = {ConsentRecord.Action.GRANT: _GRANTED, ConsentRecord.Action.WITHDRAW: Consent.State.WITHDRAWN}


@dataclass
class Planned:
    """One row's writes: a new user (``user`` None) or an existing one with its changes."""

    profile: dict
    external_id: str | None
    consent_changes: list[tuple]  # (purpose, statement, action, occurred_at, source)
    user: User | None = None
    changed: list[str] = field(default_factory=list)
    membership_external_id: str | None = None  # the existing membership's, when it has one
    has_membership: bool = False
    user_id: int = 0
    user_uuid: str = ""


@dataclass
class Batch:
    """What a batch writes, gathered before the first statement."""

    tenant_id: int
    client_id: int
    actor: str
    now: datetime
    events: list = field(default_factory=list)


def planned_write(batch: Batch, planned: list[Planned]) -> None:
    """Write the batch's set-based rows; the caller holds them in one savepoint."""
    new = [entry for entry in planned if entry.user is None]
    existing = [entry for entry in planned if entry.user is not None]
    _users_create(batch, new)
    _users_update(batch, [entry for entry in existing if entry.changed])
    _memberships_write(batch, new + [entry for entry in existing if _membership_changes(entry)])
    _consents_write(batch, planned)
    _events_copy(batch)


def _uuids(count: int) -> list[str]:
    """Random (version 4) uuids as text, from one read of the system's random source."""
    hexes = os.urandom(16 * count).hex()
    variants = "89ab"
    return [
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variants[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"
        for h in (hexes[index : index + 32] for index in range(0, 32 * count, 32))
    ]


def _users_create(batch: Batch, new: list[Planned]) -> None:
    if not new:
        return
    ids, uuids = ids_reserve(User, len(new)), _uuids(len(new))
    for entry, user_id, user_uuid in zip(new, ids, uuids, strict=True):
        entry.user_id, entry.user_uuid = user_id, user_uuid
        batch.events.append((batch.tenant_id, "user.created", user_uuid, f'{{"user": "{user_uuid}"}}'))
    rows_copy(User, _USER_COLUMNS, _user_lines(new), constant_columns(User, _USER_COLUMNS, {}, batch.now))


def _user_lines(new: list[Planned]) -> Iterator[str]:
    # set_unusable_password(): "!" and a random suffix.
    passwords = os.urandom(20 * len(new)).hex()
    for index, entry in enumerate(new):
        profile = entry.profile
        email, phone = normalize_email(profile.get("email")), profile.get("phone_number") or None
        values = [copy_text(profile[name]) if name in profile else _USER_DEFAULTS[name] for name in _PROFILE_COLUMNS]
        password = "!" + passwords[40 * index : 40 * index + 40]
        yield "\t".join([str(entry.user_id), entry.user_uuid, password, copy_text(email), copy_text(phone), *values])


# The changed users' new profiles are COPYed into this table of the session, emptied at
# each commit, then written with one UPDATE ... FROM it.
_CHANGES_TABLE = "import_user_changes"
_CHANGES_CREATE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGES_TABLE} ON COMMIT DELETE ROWS AS "  # noqa: S608  (constants)
    f"SELECT id, {', '.join(_PROFILE_COLUMNS)} FROM accounts_user WITH NO DATA"
)
_CHANGES_APPLY = (
    f"UPDATE accounts_user SET {', '.join(f'{name} = changed.{name}' for name in _PROFILE_COLUMNS)}, "  # noqa: S608
    f"updated_at = %s FROM {_CHANGES_TABLE} AS changed WHERE accounts_user.id = changed.id"
)


def _users_update(batch: Batch, changed: list[Planned]) -> None:
    """The changed users' profiles in one UPDATE (their rows are locked since matching),
    and a ``user.updated`` event to every tenant related to each, as user_profile_update."""
    if not changed:
        return
    lines = [
        "\t".join([str(entry.user_id), *(copy_text(getattr(entry.user, name)) for name in _PROFILE_COLUMNS)])
        for entry in changed
    ]
    with connection.cursor() as cursor:
        cursor.execute(_CHANGES_CREATE)
        # Emptied at commit, but an import inside an outer transaction (a test, an eager
        # task) commits no batch: an earlier batch's rows must not be applied again.
        cursor.execute(f"TRUNCATE {_CHANGES_TABLE}")
        with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {_CHANGES_TABLE} FROM STDIN") as copy:
            copy.write("\n".join(lines) + "\n")
        cursor.execute(_CHANGES_APPLY, [batch.now])
    related = _tenants_related([entry.user_id for entry in changed])
    for entry in changed:
        payload = json.dumps({"user": entry.user_uuid, "changed": entry.changed})
        batch.events += [(tenant_id, "user.updated", entry.user_uuid, payload) for tenant_id in related[entry.user_id]]


def _tenants_related(user_ids: list[int]) -> dict[int, list[int]]:
    """tenants_related_to_user for many users, read before this batch's writes to them."""
    related: dict[int, set[int]] = {user_id: set() for user_id in user_ids}
    named = RawSQL("SELECT unnest(%s::bigint[])", [user_ids])  # one parameter, not an IN list of thousands
    members = Membership.all_tenants.filter(user_id__in=named).values_list("user_id", "tenant_id")
    consenting = current_consents().filter(user_id__in=named).values_list("user_id", "tenant_id").distinct()
    for user_id, tenant_id in [*members, *consenting]:
        related[user_id].add(tenant_id)
    return {user_id: sorted(tenants) for user_id, tenants in related.items()}


def _membership_changes(entry: Planned) -> bool:
    if not entry.has_membership:
        return True
    return bool(entry.external_id) and entry.external_id != entry.membership_external_id


def _memberships_write(batch: Batch, entries: list[Planned]) -> None:
    """membership_link: a membership (source api) for users the tenant had none of (marked
    as the account's maker for the users the batch creates), and the tenant's external id
    set where it names a user whose membership had another."""
    created = [entry for entry in entries if not entry.has_membership]
    columns = ["tenant_id", "user_id", "external_id", "created_account"]
    lines = (
        f"{batch.tenant_id}\t{entry.user_id}\t{copy_text(entry.external_id)}\t{'t' if entry.user is None else 'f'}"
        for entry in created
    )
    fixed = {"source": Membership.Source.API}
    rows_copy(Membership, columns, lines, constant_columns(Membership, columns, fixed, batch.now))
    renamed = [entry for entry in entries if entry.has_membership]
    if renamed:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE accounts_membership SET external_id = renamed.external_id "
                "FROM unnest(%s::bigint[], %s::varchar[]) AS renamed(user_id, external_id) "
                "WHERE accounts_membership.tenant_id = %s AND accounts_membership.user_id = renamed.user_id",
                [[entry.user_id for entry in renamed], [entry.external_id for entry in renamed], batch.tenant_id],
            )


def _consents_write(batch: Batch, planned: list[Planned]) -> None:
    current = _consents_locked([entry for entry in planned if entry.user is not None])
    records, events, changed = [], [], {}
    for entry in planned:
        for purpose, statement, action, occurred_at, source in entry.consent_changes:
            key = (entry.user_id, purpose.pk)
            consent = current.get(key)
            state = _STATE_OF[action]
            if consent and consent[1] == state and consent[2] == statement.pk:
                continue  # already so: an idempotent repeat records nothing twice
            records.append((purpose, entry.user_id, statement, action, occurred_at, source))
            latest = max((moment for moment in consent[3:] if moment), default=None) if consent else None
            if latest and latest > occurred_at:
                continue  # a late-arriving older act: kept as proof, the newer state stands
            consent = current[key] = changed[key] = [
                consent[0] if consent else None,
                state,
                statement.pk,
                *(consent[3:] if consent else (None, None)),
            ]
            consent[3 if state == _GRANTED else 4] = occurred_at
            events.append(_consent_event(purpose, entry.user_uuid, statement, state, occurred_at))
    _records_copy(batch, records)
    tenants = {purpose.pk: purpose.tenant_id for entry in planned for purpose, *_ in entry.consent_changes}
    _consents_save(batch, changed, tenants)
    batch.events += events


def _consents_locked(existing: list[Planned]) -> dict[tuple[int, int], list]:
    """The existing users' current consents, locked: (user, purpose) -> [id, state,
    version id, granted_at, withdrawn_at]."""
    pairs = {(entry.user_id, purpose.pk) for entry in existing for purpose, *_ in entry.consent_changes}
    if not pairs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, user_id, purpose_id, state, version_id, granted_at, withdrawn_at FROM consents_consent "
            "WHERE user_id = ANY(%s) AND purpose_id = ANY(%s) ORDER BY id FOR UPDATE",
            [sorted({user for user, _ in pairs}), sorted({purpose for _, purpose in pairs})],
        )
        rows = cursor.fetchall()
    return {
        (user, purpose): [id_, state, version, granted, withdrawn]
        for id_, user, purpose, state, version, granted, withdrawn in rows
    }


def _consent_event(purpose, user_uuid: str, statement, state: str, occurred_at) -> tuple:
    payload = (
        f'{{"user": "{user_uuid}", "purpose": "{purpose.slug}", "version": {statement.version}, '
        f'"channel": "{Channel.IMPORT}", "occurred_at": "{occurred_at.isoformat()}"}}'
    )
    return purpose.tenant_id, f"consent.{state}", user_uuid, payload


def _records_copy(batch: Batch, records: list) -> None:
    columns = ["tenant_id", "user_id", "purpose_id", "version_id", "statement_hash", "action", "source", "occurred_at"]
    lines = (
        f"{purpose.tenant_id}\t{user_id}\t{purpose.pk}\t{statement.pk}\t{statement.statement_hash}\t{action}"
        f"\t{copy_text(source)}\t{occurred_at.isoformat()}"
        for purpose, user_id, statement, action, occurred_at, source in records
    )
    fixed = {"channel": Channel.IMPORT, "client_id": batch.client_id, "actor": batch.actor, "ip_address": None}
    rows_copy(ConsentRecord, columns, lines, constant_columns(ConsentRecord, columns, fixed, batch.now))


def _consents_save(batch: Batch, changed: dict[tuple[int, int], list], tenants: dict[int, int]) -> None:
    columns = ["tenant_id", "user_id", "purpose_id", "state", "version_id", "granted_at", "withdrawn_at"]
    lines = (
        f"{tenants[purpose]}\t{user}\t{purpose}\t{state}\t{version}\t{copy_text(granted)}\t{copy_text(withdrawn)}"
        for (user, purpose), (id_, state, version, granted, withdrawn) in changed.items()
        if id_ is None
    )
    rows_copy(Consent, columns, lines, constant_columns(Consent, columns, {}, batch.now))
    updated = [values for values in changed.values() if values[0] is not None]
    if updated:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE consents_consent SET state = changed.state, version_id = changed.version_id, "
                "granted_at = changed.granted_at, withdrawn_at = changed.withdrawn_at, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::varchar[], %s::bigint[], %s::timestamptz[], %s::timestamptz[]) "
                "AS changed(id, state, version_id, granted_at, withdrawn_at) WHERE consents_consent.id = changed.id",
                [batch.now, *(list(column) for column in zip(*updated, strict=True))],
            )


def _events_copy(batch: Batch) -> None:
    """The batch's outbox events in the order gathered (their ids follow it)."""
    columns = ["uuid", "tenant_id", "type", "subject", "payload"]
    uuids = _uuids(len(batch.events))
    lines = (
        f"{event_uuid}\t{tenant_id}\t{type_}\t{subject}\t{copy_text(payload)}"
        for event_uuid, (tenant_id, type_, subject, payload) in zip(uuids, batch.events, strict=True)
    )
    rows_copy(Event, columns, lines, constant_columns(Event, columns, {"actor": batch.actor}, batch.now))
