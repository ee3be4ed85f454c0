"""A client's own access token (client-credentials grant), written in one round trip.

The toolkit writes a token through the ORM inside ``transaction.atomic``: BEGIN, the
INSERT, COMMIT, and the hub added ``SET LOCAL synchronous_commit TO OFF`` (decision 22),
four round trips and the ORM's query compiler for one row. Here the row goes to
PostgreSQL as one prepared statement, its own implicit transaction:
``INSERT ... SELECT ... FROM (SELECT set_config('synchronous_commit', 'off', true))``.
The setting holds to the end of that transaction, which is when the commit reads it, so
the commit does not wait for the WAL flush. The statement is built once per process from
the model's own fields, and each value is prepared by its field, as the ORM would
(decision 26).

Inside an outer transaction (tests, or a caller's ``atomic``) or off PostgreSQL the
toolkit's own path runs instead: there the row commits, or rolls back, with the rest, and
as durably.
"""

from datetime import timedelta

from django.db import connections, router, transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, set_token_value
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749.errors import FatalClientError

from harbourmaster.prepared import prepared_cursor
from tenants.selectors import access_token_cache_prime

_INSERTS: dict[tuple[str, str], tuple[str, list]] = {}


def _insert_statement(model, connection) -> tuple[str, list]:
    """The relaxed-commit INSERT of ``model``, and the fields it writes, in order."""
    key = (model._meta.label, connection.alias)
    if key not in _INSERTS:
        quote = connection.ops.quote_name
        fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        columns = ", ".join(quote(field.column) for field in fields)
        values = ", ".join(["%s"] * len(fields))
        _INSERTS[key] = (
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from _meta, quoted; values bound
            f"SELECT {values} FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed "
            f"RETURNING {quote(model._meta.pk.column)}",
            fields,
        )
    return _INSERTS[key]


def one_round_trip_possible(using: str) -> bool:
    connection = connections[using]
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def client_token_insert(*, access_token, using: str) -> None:
    """Write ``access_token`` (a new, unsaved row) and commit it, in one round trip."""
    connection = connections[using]
    sql, fields = _insert_statement(type(access_token), connection)
    params = [field.get_db_prep_save(field.pre_save(access_token, add=True), connection) for field in fields]
    with prepared_cursor(using) as cursor:
        cursor.execute(sql, params)
        access_token.pk = cursor.fetchone()[0]
    access_token._state.adding = False
    access_token._state.db = using


def client_token_save(*, validator, token: dict, request) -> None:
    """What the toolkit's ``save_bearer_token`` does for the client-credentials grant."""
    model = get_access_token_model()
    using = router.db_for_write(model)
    if not one_round_trip_possible(using):
        # The caller's transaction commits the row, as durably as the rest of it: relaxing
        # it here would relax everything else the caller writes.
        with transaction.atomic(using=using):
            validator._save_bearer_token(token, request)
        return
    if "scope" not in token:
        raise FatalClientError("Failed to renew access token: missing scope")
    validator._check_and_set_request_resource(request)  # RFC 8707, as the toolkit checks it
    request.user = None
    seconds = token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    access_token = model(
        user=None,
        scope=token["scope"],
        expires=timezone.now() + timedelta(seconds=seconds),
        application=request.client,
        resource=getattr(request, "resource", []),
    )
    set_token_value(access_token, token["access_token"])
    client_token_insert(access_token=access_token, using=using)
    # Committed: its first use reads no SQL either (decision 22).
    access_token_cache_prime(access_token=access_token, client_id=request.client.client_id)
