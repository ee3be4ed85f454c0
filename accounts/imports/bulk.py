"""The set-based path of an import batch: its new users and its plain updates, all at once.

Every row of the batch is matched at once (one statement for all its identifiers) with
``user_push``'s own rules: a ``uuid`` the tenant knows, its external id, then a claimable
e-mail, then phone number. A row goes this way when its outcome cannot depend on the order
of the rows: none of its identifiers is named by another row of the batch, and it either
names nobody (and has an e-mail or phone number: a new user) or exactly one user no other
row of the batch may touch, whose e-mail and phone number it leaves as they are. Those
rows are checked in Python with the per-row services' own checks and messages, and
written with a few statements per batch (accounts/imports/writing.py). Every other row
(identifiers shared within the batch, a conflict or unknown uuid to report, a new e-mail
or phone number for an existing user, a user another row names, a grant for an existing
user the tenant does not deal with first-hand, decision 35) goes the per-row path,
in line order, after this one.

Two imports naming the same users are serialised by transaction-scoped advisory locks
on the batch's identifiers (hashed into buckets, taken in one sorted statement, so batches
cannot deadlock on them); the matched users are locked (FOR UPDATE) until the batch
commits; a single push, which takes no advisory lock, loses or wins on the unique
columns, and a bulk write that meets one is rolled back to its savepoint and the batch
matched again. (docs/decisions/0014-bulk-import.md)
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.imports.rows import Row, RowRefused, error_paths
from accounts.imports.writing import Batch, Planned, planned_write
from accounts.models import PROFILE_FIELDS, User, normalize_email
from accounts.selectors import Standing, users_known_to_tenant, users_standing_with_tenant
from accounts.services import GUEST_COOKIE_PREFIX, UserPushConflict, user_new_checked, user_push_changes_checked
from consents.models import ConsentRecord, Purpose
from consents.services import consent_statement_checked
from harbourmaster.actors import Actor

WRITE_ATTEMPTS = 3
# Advisory locks live in PostgreSQL's shared lock table: a batch takes at most this many.
LOCK_BUCKETS = 256
LOCK_NAMESPACE = 0x494D5054  # "IMPT": the first key of pg_advisory_xact_lock(int, int)
# A consent time this far ahead is "in the future" (consent_statement_checked's rule).
FUTURE_SLACK = timedelta(minutes=5)

_PROFILE = frozenset(PROFILE_FIELDS)
_NOT_PROFILE = frozenset({"consents", "external_id", "uuid"})
_MAX_LENGTHS = {
    field.name: field.max_length for field in User._meta.concrete_fields if field.name in _PROFILE and field.max_length
}
_GRANT = ConsentRecord.Action.GRANT
_VERIFIED = {"email": 0, "phone_number": 1}  # index of the flag in a match


class _PerRow(Exception):
    """Only the per-row services can say what this row means (or why it is refused)."""


@dataclass
class Candidate:
    row: Row
    profile: dict
    external_id: str | None
    consents: list[dict]
    identifiers: list[tuple[str, str]]
    user_id: int | None = None
    planned: Planned | None = None


@dataclass
class Matches:
    """The batch's identifiers as the database holds them now."""

    held: dict[tuple[str, str], tuple[int, bool, bool]]  # -> (user id, email verified, phone verified)
    members: dict[int, str | None]  # user id -> its external id, for the tenant's members among them
    known: set[int]  # users named by uuid whom the tenant may name so (users_known_to_tenant)


def rows_apply_bulk(*, job, rows: list[tuple[Row, dict]], purposes: dict) -> tuple[dict[int, list], list[Row]]:
    """Apply the batch's rows that can be applied set-based; returns the errors of those
    refused (by line) and the rows left for the per-row path, in line order."""
    if connection.vendor != "postgresql":
        return {}, [row for row, _ in rows]
    candidates, left, identifiers = _candidates(rows)
    _identifiers_lock(job.tenant, identifiers)
    for _ in range(WRITE_ATTEMPTS):
        matches = _matches(job.tenant, rows, identifiers)
        bulk, per_row = _resolved(candidates, left, rows, matches)
        refused, ready, unsettled = _checked(job, bulk, purposes, matches)
        try:
            with transaction.atomic():
                _write(job, ready)
        except IntegrityError:
            continue  # a concurrent push took an identifier: match again
        return refused, sorted(left + per_row + unsettled, key=lambda row: row.line)
    return {}, [row for row, _ in rows]


def _identifiers(data: dict) -> list[tuple[str, str]]:
    """The row's identifiers in the order user_push matches them."""
    email, phone, external_id = data.get("email"), data.get("phone_number"), data.get("external_id")
    identifiers = [("uuid", str(data["uuid"]))] if "uuid" in data else []
    if external_id:
        identifiers.append(("external_id", external_id))
    if email:
        identifiers.append(("email", normalize_email(email)))
    if phone:
        identifiers.append(("phone_number", phone))
    return identifiers


def _candidates(rows: list[tuple[Row, dict]]) -> tuple[list[Candidate], list[Row], set]:
    """The rows that may go set-based, the others, and every identifier named."""
    named = [_identifiers(data) for _, data in rows]
    seen: dict[tuple[str, str], int] = {}
    for identifiers in named:
        for identifier in identifiers:
            seen[identifier] = seen.get(identifier, 0) + 1
    candidates, left = [], []
    for (row, data), identifiers in zip(rows, named, strict=True):
        if _plain(data, identifiers) and all(seen[identifier] == 1 for identifier in identifiers):
            profile = {name: value for name, value in data.items() if name not in _NOT_PROFILE}
            consents = data.get("consents", [])
            candidates.append(Candidate(row, profile, data.get("external_id"), consents, identifiers))
        else:
            left.append(row)
    return candidates, left, set(seen)


def _plain(data: dict, identifiers: list[tuple[str, str]]) -> bool:
    external_id = data.get("external_id")
    return (
        bool(identifiers)
        and data.keys() - _NOT_PROFILE <= _PROFILE
        and not (external_id and external_id.startswith(GUEST_COOKIE_PREFIX))
    )


def _identifiers_lock(tenant, identifiers: set[tuple[str, str]]) -> None:
    keys = {_lock_key(tenant, identifier) for identifier in identifiers}
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


_HELD = """
    SELECT 'email', email, id, email_verified, phone_number_verified FROM accounts_user
    WHERE email = ANY(%(email)s::varchar[])
    UNION ALL
    SELECT 'phone_number', phone_number, id, email_verified, phone_number_verified FROM accounts_user
    WHERE phone_number = ANY(%(phone_number)s::varchar[])
    UNION ALL
    SELECT 'external_id', external_id, user_id, false, false FROM accounts_membership
    WHERE tenant_id = %(tenant)s AND external_id = ANY(%(external_id)s::varchar[])
    UNION ALL
    SELECT 'uuid', uuid::text, id, false, false FROM accounts_user WHERE uuid = ANY(%(uuid)s::uuid[])
"""


def _matches(tenant, rows: list[tuple[Row, dict]], identifiers: set[tuple[str, str]]) -> Matches:
    """Who holds the batch's identifiers (and the uuids rows name): two statements."""
    values: dict[str, list] = {"email": [], "phone_number": [], "external_id": [], "uuid": []}
    for kind, value in identifiers:
        values[kind].append(value)
    with connection.cursor() as cursor:
        cursor.execute(_HELD, {**values, "tenant": tenant.pk})
        held = {(kind, value): (user, email, phone) for kind, value, user, email, phone in cursor.fetchall()}
        users = sorted({user for user, _, _ in held.values()})
        cursor.execute(
            "SELECT user_id, external_id FROM accounts_membership WHERE tenant_id = %s AND user_id = ANY(%s)",
            [tenant.pk, users],
        )
        members = dict(cursor.fetchall())
    by_uuid = [user for (kind, _), (user, _, _) in held.items() if kind == "uuid"]
    known = users_known_to_tenant(tenant=tenant).filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [by_uuid]))
    return Matches(held, members, set(known.values_list("pk", flat=True)) if by_uuid else set())


def _resolved(
    candidates: list[Candidate], left: list[Row], rows: list[tuple[Row, dict]], matches: Matches
) -> tuple[list[Candidate], list[Row]]:
    """The candidates whose user is settled now (a new one, or one user no other row of
    the batch may touch), and those only the per-row path can settle."""
    untouchable = _touched_per_row(left, rows, matches)
    named: dict[int, int] = {}
    settled, per_row = [], []
    for candidate in candidates:
        try:
            candidate.user_id = _user_matched(candidate, matches)
        except _PerRow:
            per_row.append(candidate.row)
            continue
        if candidate.user_id is not None:
            named[candidate.user_id] = named.get(candidate.user_id, 0) + 1
        settled.append(candidate)
    bulk = []
    for candidate in settled:
        user_id = candidate.user_id
        if user_id is not None and (named[user_id] > 1 or user_id in untouchable):
            per_row.append(candidate.row)
        elif user_id is None and not any(kind in ("email", "phone_number") for kind, _ in candidate.identifiers):
            per_row.append(candidate.row)  # a new user needs an e-mail or phone: user_push says so
        else:
            bulk.append(candidate)
    return bulk, per_row


def _touched_per_row(left: list[Row], rows: list[tuple[Row, dict]], matches: Matches) -> set[int]:
    """Every user a per-row row might name: the set-based path leaves those alone."""
    lines = {row.line for row in left}
    touched = set()
    for row, data in rows:
        if row.line not in lines:
            continue
        touched |= {matches.held[identifier][0] for identifier in _identifiers(data) if identifier in matches.held}
    return touched


def _user_matched(candidate: Candidate, matches: Matches) -> int | None:
    """user_push's _user_match over the batch's matches: the one user the row names, None
    for nobody; _PerRow where it would refuse the row."""
    found: list[int] = []
    for kind, value in candidate.identifiers:  # uuid, external id, e-mail, phone: as user_push
        match = matches.held.get((kind, value))
        if kind == "uuid" and (match is None or match[0] not in matches.known):
            raise _PerRow()  # "your tenant knows no user with this uuid"
        if match is None:
            continue
        user_id = match[0]
        if kind in ("uuid", "external_id"):
            found += [user_id] if user_id not in found else []
            continue
        if user_id in found:
            continue
        if found or not (match[1 + _VERIFIED[kind]] or user_id in matches.members):
            raise _PerRow()  # "<field> belongs to an account this push cannot update"
        found.append(user_id)
    if len(found) > 1:
        raise _PerRow()  # "the identifiers name different users"
    return found[0] if found else None


def _checked(job, bulk: list[Candidate], purposes: dict, matches: Matches) -> tuple[dict[int, list], list, list[Row]]:
    """Each row checked as the per-row services check it: the refused (with the services'
    errors), the rows ready to write (with their plan), and those left to the per-row path."""
    fresh = _purposes_fresh(job, bulk, purposes)
    users = _users_locked([candidate.user_id for candidate in bulk if candidate.user_id is not None])
    standings = (
        users_standing_with_tenant(tenant=job.tenant, user_ids=RawSQL("SELECT unnest(%s::bigint[])", [sorted(users)]))
        if users
        else {}
    )
    statements: dict = {}
    latest_allowed = timezone.now() + FUTURE_SLACK
    refused, ready, per_row = {}, [], []
    for candidate in bulk:
        standing = standings.get(candidate.user_id, Standing.OWN)  # a new user is the tenant's own
        if standing == Standing.STRANGER and _grants(candidate):
            per_row.append(candidate.row)  # the grant waits for the user's word, asked for per row
            continue
        try:
            planned = _user_planned(candidate, users, matches, standing)
            planned.consent_changes = [
                _change_checked(consent, f"/consents/{index}", fresh, statements, latest_allowed)
                for index, consent in enumerate(candidate.consents)
            ]
        except RowRefused as refusal:
            refused[candidate.row.line] = refusal.errors
            continue
        except _PerRow:
            per_row.append(candidate.row)
            continue
        candidate.planned = planned
        ready.append(candidate)
    return refused, ready, per_row


def _grants(candidate: Candidate) -> bool:
    return any(consent["action"] == _GRANT for consent in candidate.consents)


def _users_locked(user_ids: list[int]) -> dict[int, User]:
    """The matched users, locked until the batch commits (one array parameter, not an IN
    list of thousands)."""
    if not user_ids:
        return {}
    found = User.objects.raw(
        "SELECT * FROM accounts_user WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [sorted(user_ids)]
    )
    return {user.pk: user for user in found}


def _purposes_fresh(job, bulk: list[Candidate], purposes: dict) -> dict[str, Purpose | None]:
    """The batch's purposes by slug, read now (a purpose retired since an earlier batch
    takes no grants), None for a slug the tenant has no purpose of."""
    slugs = {consent["purpose"] for candidate in bulk for consent in candidate.consents}
    found = {purpose.slug: purpose for purpose in Purpose.all_tenants.filter(tenant=job.tenant, slug__in=slugs)}
    purposes.update({slug: found.get(slug) for slug in slugs})
    return {slug: found.get(slug) for slug in slugs}


def _user_planned(candidate: Candidate, users: dict[int, User], matches: Matches, standing: Standing) -> Planned:
    if candidate.user_id is None:
        _user_new_checked(candidate.profile)
        return Planned(candidate.profile, candidate.external_id, [])
    user = users.get(candidate.user_id)
    if user is None or any(
        getattr(user, kind) != value
        for kind, value in candidate.identifiers
        if kind in ("email", "phone_number") and matches.held.get((kind, value), (None,))[0] == user.pk
    ):
        raise _PerRow()  # changed between the match and the lock: the per-row path matches again
    try:
        changed = user_push_changes_checked(user=user, profile=dict(candidate.profile), standing=standing)
    except (UserPushConflict, ValidationError):
        raise _PerRow() from None
    if "email" in changed or "phone_number" in changed:
        raise _PerRow()  # a new sign-in identifier: its uniqueness is the per-row path's to meet
    return Planned(
        candidate.profile,
        candidate.external_id,
        [],
        user=user,
        changed=changed,
        membership_external_id=matches.members.get(user.pk),
        has_membership=user.pk in matches.members,
        user_id=user.pk,
        user_uuid=str(user.uuid),
    )


def _user_new_checked(profile: dict) -> None:
    """``user_new_checked``'s verdict. The serializer has applied the model's own validators
    to every value; what it has not is the e-mail column's length (and the checks of an
    e-mail lower-cased outside ASCII): such rows are checked by ``user_new_checked``."""
    email = profile.get("email")
    plain = (email is None or (email.isascii() and len(email) <= 254)) and all(
        len(value) <= _MAX_LENGTHS[name]
        for name, value in profile.items()
        if type(value) is str and name in _MAX_LENGTHS
    )
    if plain and (email or profile.get("phone_number")):
        return
    try:
        user_new_checked(profile=profile)
    except ValidationError as error:
        raise RowRefused(error_paths(error, "")) from None


def _change_checked(consent: dict, path: str, purposes: dict, statements: dict, latest_allowed) -> tuple:
    """consent_grant / consent_withdraw's checks, with their errors: (purpose, statement,
    action, time, source)."""
    purpose = purposes[consent["purpose"]]
    if purpose is None:
        raise RowRefused([{"path": f"{path}/purpose", "message": "your tenant has no purpose of this name"}])
    action, occurred_at = consent["action"], consent["occurred_at"]
    version = consent.get("version") if action == _GRANT else None
    statement = statements.get((purpose.pk, version or purpose.current_version))
    if statement is None or occurred_at > latest_allowed or (action == _GRANT and not purpose.is_active):
        try:
            statement = consent_statement_checked(
                purpose=purpose, action=action, occurred_at=occurred_at, version=version, statements=statements
            )
        except ValidationError as error:
            raise RowRefused(error_paths(error, path)) from None
    return purpose, statement, action, occurred_at, consent["source"]


def _write(job, ready: list[Candidate]) -> None:
    """The rows as user_push, then consent_grant / consent_withdraw, would write them."""
    if not ready:
        return
    batch = Batch(job.tenant_id, job.client_id, str(Actor.client(job.client)), timezone.now())
    planned_write(batch, [candidate.planned for candidate in ready])
