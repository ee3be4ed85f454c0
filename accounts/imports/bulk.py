"""The set-based path of an import batch: its new users, all at once.

A row goes this way when it can only mean "register a new user": it names no ``uuid``, and
none of its identifiers (normalised e-mail, phone number, the tenant's external id) is
held by a user, by a membership of the tenant, or by another row of the batch. For those
rows the outcome of the per-row services does not depend on the order of the rows, so
they are checked in Python (the same checks, the same errors), then written with a few
bulk statements: users, memberships, ``user.created`` events, consent records, current
consents and their events. Every other row (existing users, identifiers shared within the
batch, a ``uuid``) is left to the per-row path, in line order, after this one.

Two imports naming the same new users are serialised by transaction-scoped advisory locks
on the batch's identifiers (hashed into buckets, taken in one sorted statement, so batches
cannot deadlock on them); a single push, which takes no such lock, loses or wins on the
unique columns, and a bulk write that meets one is rolled back to its savepoint and the
batch matched again. (docs/decisions/0014-bulk-import.md)
"""

import hashlib
from dataclasses import dataclass, field
from itertools import chain

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.imports.rows import Row, RowRefused, error_paths
from accounts.models import PROFILE_FIELDS, Membership, User, normalize_email
from accounts.services import GUEST_COOKIE_PREFIX, user_new_checked, users_create_bulk
from consents.models import Channel, ConsentRecord, Purpose
from consents.services import ConsentChange, consent_statement_checked, consents_change_bulk
from harbourmaster.actors import Actor

WRITE_ATTEMPTS = 3
# Advisory locks live in PostgreSQL's shared lock table: a batch takes at most this many.
LOCK_BUCKETS = 256
LOCK_NAMESPACE = 0x494D5054  # "IMPT": the first key of pg_advisory_xact_lock(int, int)


@dataclass
class NewUserRow:
    row: Row
    profile: dict
    external_id: str | None
    consents: list[dict]
    user: User | None = None
    changes: list[ConsentChange] = field(default_factory=list)


def rows_apply_bulk(*, job, rows: list[tuple[Row, dict]], purposes: dict) -> tuple[dict[int, list], list[Row]]:
    """Apply the batch's rows that register new users; returns the errors of those refused
    (by line) and the rows left for the per-row path, in line order."""
    if not connection.features.can_return_rows_from_bulk_insert:
        return {}, [row for row, _ in rows]
    candidates, left = _candidates(rows)
    _identifiers_lock(job.tenant, rows)
    for _ in range(WRITE_ATTEMPTS):
        new, taken = _split_taken(job.tenant, candidates)
        refused, ready = _checked(job, new, purposes)
        try:
            with transaction.atomic():
                _write(job, ready)
        except IntegrityError:
            continue  # a concurrent push took an identifier: match again
        return refused, sorted(left + [candidate.row for candidate in taken], key=lambda row: row.line)
    return {}, [row for row, _ in rows]


def _identifiers(data: dict) -> list[tuple[str, str]]:
    values = [
        ("email", normalize_email(data.get("email"))),
        ("phone_number", data.get("phone_number")),
        ("external_id", data.get("external_id")),
    ]
    return [(kind, value) for kind, value in values if value]


def _candidates(rows: list[tuple[Row, dict]]) -> tuple[list[NewUserRow], list[Row]]:
    """The rows that may register a new user, and the others."""
    seen: dict[tuple[str, str], int] = {}
    for _, data in rows:
        for identifier in _identifiers(data):
            seen[identifier] = seen.get(identifier, 0) + 1
    candidates, left = [], []
    for row, data in rows:
        if _may_be_new(data) and all(seen[identifier] == 1 for identifier in _identifiers(data)):
            profile = {name: value for name, value in data.items() if name not in ("consents", "external_id")}
            candidates.append(NewUserRow(row, profile, data.get("external_id"), list(data.get("consents", []))))
        else:
            left.append(row)
    return candidates, left


def _may_be_new(data: dict) -> bool:
    external_id = data.get("external_id")
    profile = set(data) - {"consents", "external_id"}
    return (
        "uuid" not in data
        and profile <= set(PROFILE_FIELDS)
        and not (external_id and external_id.startswith(GUEST_COOKIE_PREFIX))
        and bool(normalize_email(data.get("email")) or data.get("phone_number"))
    )


def _identifiers_lock(tenant, rows: list[tuple[Row, dict]]) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite lets one writer in at a time
    keys = {_lock_key(tenant, identifier) for _, data in rows for identifier in _identifiers(data)}
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, bucket) FROM (SELECT unnest(%s::int[]) AS bucket ORDER BY 1) AS buckets",
            [LOCK_NAMESPACE, sorted(keys)],
        )


def _lock_key(tenant, identifier: tuple[str, str]) -> int:
    kind, value = identifier
    # E-mail and phone are global; external ids belong to the tenant.
    scope = f"{tenant.pk}:" if kind == "external_id" else ""
    digest = hashlib.blake2b(f"{kind}:{scope}{value}".encode(), digest_size=4).digest()
    return int.from_bytes(digest) % LOCK_BUCKETS


def _split_taken(tenant, candidates: list[NewUserRow]) -> tuple[list[NewUserRow], list[NewUserRow]]:
    """Candidates whose identifiers nobody holds, and those whose identifiers someone does:
    one query per kind of identifier."""
    values: dict[str, set] = {"email": set(), "phone_number": set(), "external_id": set()}
    for candidate in candidates:
        for kind, value in _identifiers({**candidate.profile, "external_id": candidate.external_id}):
            values[kind].add(value)
    held = {
        ("email", value) for value in User.objects.filter(email__in=values["email"]).values_list("email", flat=True)
    }
    phones = User.objects.filter(phone_number__in=values["phone_number"]).values_list("phone_number", flat=True)
    held |= {("phone_number", value) for value in phones}
    external = Membership.all_tenants.filter(tenant=tenant, external_id__in=values["external_id"])
    held |= {("external_id", value) for value in external.values_list("external_id", flat=True)}
    new, taken = [], []
    for candidate in candidates:
        identifiers = _identifiers({**candidate.profile, "external_id": candidate.external_id})
        (taken if held.intersection(identifiers) else new).append(candidate)
    return new, taken


def _checked(job, new: list[NewUserRow], purposes: dict) -> tuple[dict[int, list], list[NewUserRow]]:
    """Each new row checked as the per-row services check it: its refusals, and the rest
    with their unsaved user and consent changes."""
    fresh = _purposes_fresh(job, new, purposes)
    statements: dict = {}
    refused, ready = {}, []
    for candidate in new:
        try:
            candidate.user = _user_checked(candidate.profile)
            candidate.changes = [
                _change_checked(candidate.user, consent, f"/consents/{index}", fresh, statements)
                for index, consent in enumerate(candidate.consents)
            ]
        except RowRefused as refusal:
            refused[candidate.row.line] = refusal.errors
            continue
        ready.append(candidate)
    return refused, ready


def _purposes_fresh(job, new: list[NewUserRow], purposes: dict) -> dict[str, Purpose | None]:
    """The batch's purposes by slug, read now (a purpose retired since an earlier batch
    takes no grants), None for a slug the tenant has no purpose of."""
    slugs = {consent["purpose"] for candidate in new for consent in candidate.consents}
    found = {purpose.slug: purpose for purpose in Purpose.all_tenants.filter(tenant=job.tenant, slug__in=slugs)}
    purposes.update({slug: found.get(slug) for slug in slugs})
    return {slug: found.get(slug) for slug in slugs}


def _user_checked(profile: dict) -> User:
    try:
        return user_new_checked(profile=profile)
    except ValidationError as error:
        raise RowRefused(error_paths(error, "")) from None


def _change_checked(user: User, consent: dict, path: str, purposes: dict, statements: dict) -> ConsentChange:
    purpose = purposes[consent["purpose"]]
    if purpose is None:
        raise RowRefused([{"path": f"{path}/purpose", "message": "your tenant has no purpose of this name"}])
    try:
        statement = consent_statement_checked(
            purpose=purpose,
            action=consent["action"],
            occurred_at=consent["occurred_at"],
            version=consent.get("version") if consent["action"] == ConsentRecord.Action.GRANT else None,
            statements=statements,
        )
    except ValidationError as error:
        raise RowRefused(error_paths(error, path)) from None
    return ConsentChange(user, purpose, statement, consent["action"], consent["occurred_at"], consent["source"])


def _write(job, ready: list[NewUserRow]) -> None:
    if not ready:
        return
    actor = Actor.client(job.client)
    users = [candidate.user for candidate in ready]
    users_create_bulk(
        actor=actor, tenant=job.tenant, users=users, external_ids=[candidate.external_id for candidate in ready]
    )
    changes = list(chain.from_iterable(candidate.changes for candidate in ready))
    consents_change_bulk(actor=actor, channel=Channel.IMPORT, client=job.client, changes=changes)
