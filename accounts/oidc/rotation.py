"""Refresh-token rotation in two statements (decision 25).

The toolkit reads a refresh token and then its access token, user and client in lazy
loads, and rotates it under row locks: 17 statements. Here one SELECT reads the token with
all that validation needs, and one statement of data-modifying CTEs rotates it. That
statement's first step, marking the old token revoked only if it is not yet, is the guard
against a concurrent or replayed use: when it matches no row, nothing else is written
and nothing is issued, and the family is revoked as reuse (REFRESH_TOKEN_REUSE_PROTECTION).
Run outside a transaction, the statement commits itself, durably like any sign-in token.

PostgreSQL only, and only for the toolkit's own token models in the hub's configuration
(rotation on, no grace period); anything else keeps the toolkit's code (rotation_supported).
Table and column names come from the models' ``_meta``.
"""

import functools
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.settings import oauth2_settings

from accounts.oidc.models import RequestedUserinfoClaims
from harbourmaster.prepared import prepared_cursor
from tenants.selectors import access_token_checksum

# What the toolkit writes for each token; a model with other columns keeps its code.
ACCESS_TOKEN_FIELDS = frozenset(
    {
        "user",
        "source_refresh_token",
        "token",
        "token_checksum",
        "id_token",
        "application",
        "expires",
        "scope",
        "resource",
        "created",
        "updated",
    }
)
REFRESH_TOKEN_FIELDS = frozenset(
    {
        "user",
        "token",
        "token_checksum",
        "application",
        "access_token",
        "token_family",
        "resource",
        "created",
        "updated",
        "revoked",
    }
)


@dataclass(frozen=True, slots=True)
class RefreshTokenFound:
    """A refresh token as one SELECT read it: the row, its user, and its access token's scope."""

    refresh_token: object  # the refresh token model, its ``user`` loaded
    scope: str | None  # None when it has no access token
    access_token_expires: datetime | None

    @property
    def is_live(self) -> bool:
        return self.refresh_token.revoked is None

    def outlived(self) -> bool:
        """The toolkit's own expiry (oauth2_provider's validate_refresh_token): a live token
        needs its access token, and dies REFRESH_TOKEN_EXPIRE_SECONDS after that expires."""
        if self.access_token_expires is None:
            return True
        lifetime = refresh_token_expire_timedelta()
        return bool(lifetime) and self.access_token_expires + lifetime <= timezone.now()


def rotation_supported(*, using: str) -> bool:
    """Whether a refresh may take the two-statement path rather than the toolkit's."""
    return (
        connections[using].vendor == "postgresql"
        and oauth2_settings.ROTATE_REFRESH_TOKEN
        and not oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS
        and _models_have_the_toolkits_columns()
    )


# How the toolkit finds a token (its ``token_checksum``): the SHA-256 of its value.
token_checksum = access_token_checksum


def refresh_token_found(*, raw_token: str, using: str) -> RefreshTokenFound | None:
    """The token with this value, preferring a live row to revoked ones (as the toolkit does)."""
    with prepared_cursor(using) as cursor:
        cursor.execute(_statements(using).select, [token_checksum(raw_token)])
        row = cursor.fetchone()
    if row is None:
        return None
    middle = len(get_refresh_token_model()._meta.concrete_fields)  # then scope, expires, the user
    refresh_token = _instance(get_refresh_token_model(), row[:middle], using)
    refresh_token.user = _instance(get_user_model(), row[middle + 2 :], using)
    return RefreshTokenFound(refresh_token=refresh_token, scope=row[middle], access_token_expires=row[middle + 1])


def refresh_token_rotate(
    *,
    found: RefreshTokenFound,
    access_token: str,
    refresh_token: str,
    scope: str,
    expires: datetime,
    resource: list[str],
    using: str,
    family_revoked_if_spent: bool = True,
) -> bool:
    """Revoke ``found``, delete its access token, issue the new pair in its family and hand on
    its requested userinfo claims; all or nothing, in one statement.

    False if the token was used since it was read (a concurrent request, a replay): then
    nothing was issued, and its family is revoked unless reuse protection is off or the
    caller decides (``family_revoked_if_spent``: a tenant's reuse interval, decision 30).
    """
    connection = connections[using]
    old = found.refresh_token
    resource_field = get_access_token_model()._meta.get_field("resource")
    now = timezone.now()
    parameters = {
        "refresh_token_id": old.pk,
        "access_token_id": old.access_token_id,
        "user_id": old.user_id,
        "application_id": old.application_id,
        "token_family": old.token_family,
        "access_token": _stored(access_token),
        "access_token_checksum": token_checksum(access_token),
        "refresh_token": _stored(refresh_token),
        "refresh_token_checksum": token_checksum(refresh_token),
        "scope": scope,
        "expires": expires,
        "resource": resource_field.get_db_prep_save(resource, connection),
        "now": now,
    }
    with prepared_cursor(using) as cursor:
        cursor.execute(_statements(using).rotate, parameters)
        issued = cursor.fetchone()
    if issued is not None:
        return True
    if family_revoked_if_spent:
        refresh_token_family_revoke(old)
    return False


def refresh_token_family_revoke(token) -> None:
    """A spent token used again: the whole sign-in ends, unless reuse protection is off."""
    if oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION:
        get_refresh_token_model().revoke_family(token.token_family)


def _stored(raw_token: str) -> str:
    # RFC 9700 token storage: only the checksum is kept (oauth2_provider.models.set_token_value).
    return "" if oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE else raw_token


@functools.cache
def _models_have_the_toolkits_columns() -> bool:
    return _written_fields(get_access_token_model()) == ACCESS_TOKEN_FIELDS and (
        _written_fields(get_refresh_token_model()) == REFRESH_TOKEN_FIELDS
    )


def _written_fields(model) -> frozenset[str]:
    return frozenset(field.name for field in model._meta.concrete_fields if not field.primary_key)


@functools.cache
def _loaded_fields(model, using: str) -> tuple[list[str], tuple]:
    """The columns' attnames, and the converters the ORM would apply to each (JSON, say)."""
    fields = model._meta.concrete_fields
    converters = tuple(tuple(field.get_db_converters(connections[using])) for field in fields)
    return [field.attname for field in fields], converters


def _instance(model, values, using: str):
    """The model instance the ORM would have built from this row."""
    attnames, converters = _loaded_fields(model, using)
    connection = connections[using]
    converted = []
    for field_converters, value in zip(converters, values, strict=True):
        for converter in field_converters:
            value = converter(value, None, connection)
        converted.append(value)
    return model.from_db(using, attnames, converted)


@dataclass(frozen=True)
class _Statements:
    select: str
    rotate: str


@functools.cache
def _statements(using: str) -> _Statements:
    names = _Names(connections[using].ops.quote_name)
    return _Statements(select=_select_statement(names), rotate=_rotate_statement(names))


@dataclass(frozen=True)
class _Names:
    """Quoted table and column names, from the models."""

    quote: object

    def table(self, model) -> str:
        return self.quote(model._meta.db_table)

    def column(self, model, field_name: str) -> str:
        return self.quote(model._meta.get_field(field_name).column)

    def pk(self, model) -> str:
        return self.quote(model._meta.pk.column)

    def all_columns(self, model, alias: str) -> list[str]:
        return [f"{alias}.{self.quote(field.column)}" for field in model._meta.concrete_fields]


def _select_statement(names: _Names) -> str:
    refresh, access, user = get_refresh_token_model(), get_access_token_model(), get_user_model()
    columns = [
        *names.all_columns(refresh, "r"),
        f"a.{names.column(access, 'scope')}",
        f"a.{names.column(access, 'expires')}",
        *names.all_columns(user, "u"),
    ]
    return (
        f"SELECT {', '.join(columns)} FROM {names.table(refresh)} r "  # noqa: S608 (names from the models)
        f"LEFT JOIN {names.table(access)} a ON a.{names.pk(access)} = r.{names.column(refresh, 'access_token')} "
        f"JOIN {names.table(user)} u ON u.{names.pk(user)} = r.{names.column(refresh, 'user')} "
        f"WHERE r.{names.column(refresh, 'token_checksum')} = %s "
        f"ORDER BY r.{names.column(refresh, 'revoked')} DESC NULLS FIRST LIMIT 1"
    )


def _rotate_statement(names: _Names) -> str:
    """Every step after the guard reads the guard's row (``spent``): no row, no write."""
    refresh, access, claims = get_refresh_token_model(), get_access_token_model(), RequestedUserinfoClaims
    user = get_user_model()
    refresh_pk, access_pk, revoked = names.pk(refresh), names.pk(access), names.column(refresh, "revoked")
    new_access = _insert(
        names,
        access,
        {
            "user": "%(user_id)s",
            "source_refresh_token": f"spent.{refresh_pk}",
            "token": "%(access_token)s",
            "token_checksum": "%(access_token_checksum)s",
            "id_token": "NULL",
            "application": "%(application_id)s",
            "expires": "%(expires)s",
            "scope": "%(scope)s",
            "resource": "%(resource)s",
            "created": "%(now)s",
            "updated": "%(now)s",
        },
        source="spent",
        returning=access_pk,
    )
    new_refresh = _insert(
        names,
        refresh,
        {
            "user": "%(user_id)s",
            "token": "%(refresh_token)s",
            "token_checksum": "%(refresh_token_checksum)s",
            "application": "%(application_id)s",
            "access_token": f"issued_access.{access_pk}",
            "token_family": "%(token_family)s",
            "resource": "%(resource)s",
            "created": "%(now)s",
            "updated": "%(now)s",
            "revoked": "NULL",
        },
        source="issued_access",
        returning=refresh_pk,
    )
    claims_of, claims_names = names.column(claims, "refresh_token"), names.column(claims, "names")
    return (
        # The guard: only a live token is spent, and only once (RefreshToken.revoke).
        f"WITH spent AS (UPDATE {names.table(refresh)} SET {revoked} = %(now)s, "  # noqa: S608 (names from the models)
        f"{names.column(refresh, 'updated')} = %(now)s, {names.column(refresh, 'access_token')} = NULL "
        f"WHERE {refresh_pk} = %(refresh_token_id)s AND {revoked} IS NULL "
        # ... and only while its user may still sign in (deactivated since it was read: nothing).
        f"AND EXISTS (SELECT FROM {names.table(user)} WHERE {names.pk(user)} = %(user_id)s "
        f"AND {names.column(user, 'is_active')}) RETURNING {refresh_pk}), "
        # Revoking an access token is deleting it (AbstractAccessToken.revoke).
        f"replaced AS (DELETE FROM {names.table(access)} WHERE {access_pk} = %(access_token_id)s "
        f"AND EXISTS (SELECT FROM spent)), "
        f"issued_access AS ({new_access}), "
        f"issued_refresh AS ({new_refresh}), "
        # The claims the sign-in asked userinfo for go on with it (userinfo_claims_request_carry).
        f"carried AS (INSERT INTO {names.table(claims)} ({claims_of}, {claims_names}) "
        f"SELECT issued_refresh.{refresh_pk}, previous.{claims_names} FROM issued_refresh, {names.table(claims)} previous "
        f"WHERE previous.{claims_of} = %(refresh_token_id)s) "
        f"SELECT issued_access.{access_pk}, issued_refresh.{refresh_pk} FROM issued_access, issued_refresh"
    )


def _insert(names: _Names, model, values: dict[str, str], *, source: str, returning: str) -> str:
    columns = ", ".join(names.column(model, name) for name in values)
    return (
        f"INSERT INTO {names.table(model)} ({columns}) "  # noqa: S608 (names from the models)
        f"SELECT {', '.join(values.values())} FROM {source} RETURNING {returning}"
    )
